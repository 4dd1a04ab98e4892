// The classes here run one after another. Several start processes (psql for PostgreSQL, flock
// holders for the lock tests), and a forked child holds a copy of every descriptor of the test
// process until it execs — O_CLOEXEC closes them only then — including the event log's flock.
// A test that closes and reopens a file store in a loop, run beside such a class, could find
// its own lock still held for that instant ("in use by another process"). butterflyd opens its
// store once and starts no processes, so this is a property of the test process, not of the store.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
