// API tests start real daemons (DPDK, a packet thread each) on a 2-core machine: one
// test class at a time keeps them from starving each other.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
