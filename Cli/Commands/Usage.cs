namespace Butterfly.Cli.Commands;

/// <summary>Usage texts, one per command path, printed by <c>X help</c> and <c>-h</c>.</summary>
internal static class Usage
{
    private const string GlobalOptions = """

        global options (anywhere on the line):
            --endpoint, -e EP  endpoint to use (default: tcp://127.0.0.1:9999)
            --timeout, -t MS   give up after MS milliseconds without reply (default: wait)
            --key, -k FILE     encryption key file (base64 of 32 bytes)
            --curve-key, -K FILE  CURVE: this client's key pair (NAME.key_secret of "butterfly keygen NAME")
            --server-key FILE  CURVE: the daemon's public key (its NAME.key); goes with -K
            --verbose, -v      print each request and reply in protobuf text format
            --version, -V      show butterfly version
            --help, -h         show the help of the command

        """;

    private const string RuleOptions = """
        rule options:
            --dir DIRECTION    in or out (default: in)
            --ip-proto PROTO   tcp, udp, icmp, icmpv6, all, or a number from 0 to 255 (mandatory)
            --port PORT        a single port (0 to 65535)
            --port-start PORT  port range start
            --port-end PORT    port range end
            --cidr CIDR        addresses to allow, e.g. 10.0.0.0/8
            --sg-members SG    allow the members of security group SG
            --icmp-type TYPE   icmp and icmpv6 only: this ICMP type (default: any)
            --icmp-code CODE   with --icmp-type: this ICMP code (default: any)

        tcp and udp rules need ports (start <= end); set exactly one of --cidr or --sg-members.

        """;

    private static readonly Dictionary<string, string> Texts = new(StringComparer.Ordinal)
    {
        [""] = """
            usage: butterfly COMMAND [options...] [+ COMMAND [options...]]...

            butterfly commands:
                nic       manage virtual interfaces
                sg        manage security groups
                status    show informations about butterfly
                shutdown  ask butterflyd to stop
                request   send a protobuf request to butterfly
                dump      extract Butterfly configuration
                events    list the changes recorded in the event log
                state     show the configuration as it was at a time or event
                restore   bring the configuration back to a time or event
                keygen    make a CURVE key pair (NAME.key, NAME.key_secret)

            Commands joined by ' + ' run in order and stop at the first failure.
            "butterfly COMMAND help" shows the usage of a command.

            """,
        ["nic"] = """
            butterfly nic subcommands:
                list     list all nics id
                stats    show nic statistics
                export   write a nic's tracked connections (for a migration)
                capture  stream a traced nic's frames as pcapng (| tcpdump -r -)
                details  prints nics's details
                sg       manage security groups attached to a nic
                add      create a new nic
                update   update a nic
                del      remove nic(s)
                help     print this and return 0

            """,
        ["nic list"] = "usage: butterfly nic list [options...]\n\nShow all created nics in butterfly\n",
        ["nic stats"] = """
            usage: butterfly nic stats NIC [--all] [options...]

            Show some statistics of a vnic: bytes in (from the VM) and out (to the VM); for a
            BENCH nic, then its probe: requests sent, replies received and round-trip times.
                --all, -a  then frames in and out, frames dropped, one "drop REASON: N"
                           line per anti-spoofing or firewall reason that dropped frames of
                           this nic, and the nic's capture (file, frames, dropped) when traced

            """,
        ["nic export"] = """
            usage: butterfly nic export NIC [--output FILE] [options...]

            Write the nic's tracked connections (a binary document) to stdout or FILE.
            Give it to the nic on the host its VM migrates to with "nic add --fw-data FILE"
            or "nic update --id ID --fw-data FILE": its established connections keep passing.

            """,
        ["nic capture"] = """
            usage: butterfly nic capture NIC [--from-start] [--refused] [--count N] [--output FILE] [options...]

            Write the frames of a traced nic (packet_trace true) to stdout as pcapng, while the
            daemon captures them, e.g. "butterfly nic capture vm1 | tcpdump -n -r -". Reads the
            nic's capture file (packet_trace_path), so it runs on the daemon's host; it follows the
            file's rotation and stops when the nic is no longer traced or the reader exits.
                --from-start  the frames already in the file too (default: from now on)
                --refused     only frames the anti-spoofing or the firewall dropped
                --count, -c N stop after N frames
                --output, -o FILE  write to FILE instead of stdout

            """,
        ["nic details"] = "usage: butterfly nic details NIC [options...]\n\nShow vnic details\n",
        ["nic add"] = """
            usage: butterfly nic add [options...]

            Create a nic and print its path (vhost-user socket or tap name).
            options:
                --id ID               interface's id (mandatory)
                --mac MAC             virtual interface's mac (mandatory)
                --vni VNI             virtual network id < 2^24 (mandatory)
                --ip IP               virtual interface's ip (v4 or v6), repeatable
                --sg SG               security group of the nic, repeatable
                --type TYPE           VHOST_USER_SERVER (default), TAP or BENCH
                --enable-antispoof    enable antispoof protection (default: off)
                --bypass-filtering    remove all filters and protection
                --packet-trace BOOL   true/false: trace the nic or not (default: server behaviour)
                --trace-path PATH     where to store the pcap file (needs --packet-trace true)
                --btype BTYPE         BENCH only: ICMP_SND_LIKE or ICMP_RCV_LIKE
                --dip IP              BENCH only: destination IP
                --dmac MAC            BENCH only: destination MAC
                --fw-data FILE        connections to take over, from "nic export"

            """,
        ["nic update"] = """
            usage: butterfly nic update [options...]

            options:
                --id ID                   interface's id (mandatory)
                --ip IP                   new ip list (v4 or v6), repeatable; "--ip -e" clears it
                --enable-antispoof BOOL   true/false: enable antispoof
                --bypass-filtering BOOL   true/false: no anti-spoofing and no security groups
                --fw-data FILE            connections to take over, from "nic export"
                --packet-trace BOOL       true/false: trace the nic or not
                --trace-path PATH         where to store the pcap file (needs --packet-trace true)

            """,
        ["nic del"] = "usage: butterfly nic del NIC [NIC...] [options...]\n\nDestroy one or more vnic\n",
        ["nic sg"] = """
            butterfly nic sg subcommands:
                list  list security groups attached to a nic
                add   add one or more security group to a nic
                del   removes one or more security group of a nic
                set   update all security groups of a nic (none: clear them)

            """,
        ["nic sg list"] = "usage: butterfly nic sg list NIC [options...]\n\nList security groups applied to a vnic\n",
        ["nic sg add"] = "usage: butterfly nic sg add NIC SG [SG...] [options...]\n\nAdd security groups to a vnic\n",
        ["nic sg del"] = "usage: butterfly nic sg del NIC SG [SG...] [options...]\n\nRemove security groups from a vnic\n",
        ["nic sg set"] = "usage: butterfly nic sg set NIC [SG...] [options...]\n\nOverwrite security group listing of a vnic (no SG: clear it)\n",
        ["sg"] = """
            butterfly sg subcommands:
                list    list security groups
                add     create one or more security groups
                del     remove one or more security groups
                rule    manage security group rules
                member  manage security group members

            """,
        ["sg list"] = "usage: butterfly sg list [options...]\n\nList all available security groups\n",
        ["sg add"] = "usage: butterfly sg add SG [SG...] [options...]\n\nCreate new security groups\nNote that creating a new security group when it already\nexists will overwrite the existing SG with an empty one.\n",
        ["sg del"] = "usage: butterfly sg del SG [SG...] [options...]\n\nDelete one or more security group\n",
        ["sg rule"] = """
            butterfly sg rule subcommands:
                list  list security group rules
                add   create a new rule
                del   remove rule

            """,
        ["sg rule list"] = "usage: butterfly sg rule list SG [options...]\n\nList all firewalling rules of a security group\n",
        ["sg rule add"] = "usage: butterfly sg rule add SG [rule options...]\n\nAdd a new firewalling rule inside a security group\n" + RuleOptions,
        ["sg rule del"] = "first usage: butterfly sg rule del SG RULE_ID\nsecond usage: butterfly sg rule del SG [rule options...]\n\nRemove a firewalling rule from a security group\nYou can get RULE_ID from sg rule list subcommand\n" + RuleOptions,
        ["sg member"] = """
            butterfly sg member subcommands:
                list  list members of a security group
                add   add member to a security group
                del   remove member of a security group

            """,
        ["sg member list"] = "usage: butterfly sg member list SG [options...]\n\nList members of a security group\n",
        ["sg member add"] = "usage: butterfly sg member add SG IP [options...]\n\nAdd a member (IP) to a security group\n",
        ["sg member del"] = "usage: butterfly sg member del SG IP [options...]\n\nRemove a member (IP) from a security group\n",
        ["status"] = "usage: butterfly status [options...]\n       butterfly status dataplane [--clear] [--json]\n\nShow butterfly status informations\n(\"butterfly status dataplane help\": the packet thread's statistics)\n",
        ["status dataplane"] = """
            usage: butterfly status dataplane [--clear] [--json]

            Show what the packet thread did since it started or since the last --clear
            (like ovs-appctl dpif-netdev/pmd-perf-show): polling rounds, frames received,
            non-empty RX bursts and frames per burst, busy cycles (rounds that moved frames)
            and idle cycles (rounds that did not, sleeps included) in TSC cycles, cycles per
            frame, the connection table's occupancy (entries of capacity, opened and swept
            since start) and the event the firewall in use was compiled from, then one
            "drop REASON: N" line per reason that dropped frames.
                --clear  print the counters, then start a new measurement from zero
                --json   print a JSON object instead

            """,
        ["shutdown"] = "usage: butterfly shutdown [options...]\n\nAsk butterfly to quit\n",
        ["request"] = "usage: butterfly request REQUEST_FILE [options...]\n\nSend the proto.Messages written in protobuf text format in REQUEST_FILE.\noptions:\n    --stdout   prints protobuf response to stdout\n",
        ["dump"] = """
            usage: butterfly dump [options...]

            Dump all butterfly configuration (nics and security groups) to stdout.
            The generated data contains all requests ready to send to an other Butterfly
            Example:
            - butterfly dump > butterfly.dump
            - butterfly shutdown
            - start butterfly again
            - butterfly request butterfly.dump

            """,
        ["events"] = """
            usage: butterfly events [--nic ID | --sg ID] [--since TIME] [--until TIME] [--limit N] [--host ID] [--json]

            List the recorded changes, oldest first, one line per event:
            SEQUENCE TIME TYPE KIND/ID origin=CLIENT message_id=ID cause=REQUEST address=IP key=KEY DATA
            TIME is RFC 3339 (2026-11-26T10:00:00Z), relative (-30s, -15m, -2h, -1d, -1w),
            now, or an event sequence number.
                --host ID  another host's events (daemons sharing one PostgreSQL database)
                --json     print a JSON array instead

            """,
        ["state"] = """
            usage: butterfly state --at TIME|SEQ [--host ID] [--json]

            Show the configuration as it was at TIME or right after event SEQ, as the
            requests that rebuild it (what `butterfly dump` prints), or as JSON.
            TIME is RFC 3339 (2026-11-26T10:00:00Z) or relative (-15m, -2h, -1d).
                --host ID  another host's configuration (daemons sharing one PostgreSQL database)

            """,
        ["keygen"] = """
            usage: butterfly keygen NAME

            Make a CURVE key pair, as ZeroMQ certificates (the files pyzmq and CZMQ read):
            NAME.key holds the public key (give it to the other side: a client's goes in the
            daemon's --curve-allow directory, the daemon's is the clients' --server-key),
            NAME.key_secret holds both keys, readable by its owner only (the daemon's
            --curve-key, a client's -K). Prints the public key. Never overwrites a file.

            """,
        ["restore"] = """
            usage: butterfly restore --to TIME|SEQ

            Bring the live configuration back to what it was at TIME or right after
            event SEQ. History is kept: the changes are appended as new events.
            TIME is RFC 3339 (2026-11-26T10:00:00Z) or relative (-15m, -2h, -1d).

            """,
    };

    public static string For(string path) =>
        (Texts.TryGetValue(path, out var text) ? text : Texts[""]) + GlobalOptions;

    public static IEnumerable<string> Paths => Texts.Keys;
}
