/* Single-client round trips over ZeroMQ with libzmq, the transport of the original C++ client
 * and of pyzmq orchestrators (bench/api-roundtrip/run.sh drives it; a benchmark, not a test).
 *
 *   zmq_roundtrip echo ENDPOINT                  a REP socket that sends every request back:
 *                                                the floor of a ZeroMQ round trip on this host
 *   zmq_roundtrip client ENDPOINT COUNT [HEX]    COUNT REQ round trips of the request HEX
 *                                                (default 20 zero bytes); prints round trips/s
 *
 * The request is sent and the reply awaited one at a time, as one synchronous client does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static int parse_hex(const char *hex, unsigned char *out, size_t max)
{
    size_t n = strlen(hex);
    if (n % 2 != 0 || n / 2 > max)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (unsigned char)v;
    }
    return (int)(n / 2);
}

/* count synchronous round trips of request on client; 0, or -1 after printing why */
static int round_trips(void *client, const char *endpoint, const unsigned char *request, int length,
                       unsigned char *buffer, size_t size, long count)
{
    for (long i = 0; i < count; i++) {
        if (zmq_send(client, request, (size_t)length, 0) < 0 || zmq_recv(client, buffer, size, 0) < 0) {
            fprintf(stderr, "zmq_roundtrip: no reply from %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
            return -1;
        }
    }
    return 0;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "echo") != 0 && strcmp(argv[1], "client") != 0)) {
        fprintf(stderr, "usage: zmq_roundtrip echo ENDPOINT | zmq_roundtrip client ENDPOINT COUNT [HEX]\n");
        return 2;
    }
    void *context = zmq_ctx_new();
    unsigned char buffer[65536];
    if (strcmp(argv[1], "echo") == 0) {
        void *server = zmq_socket(context, ZMQ_REP);
        if (zmq_bind(server, argv[2]) != 0) {
            fprintf(stderr, "zmq_roundtrip: cannot bind %s: %s\n", argv[2], zmq_strerror(zmq_errno()));
            return 1;
        }
        for (;;) {
            int n = zmq_recv(server, buffer, sizeof buffer, 0);
            if (n < 0 || zmq_send(server, buffer, (size_t)n, 0) < 0)
                return 1;
        }
    }

    long count = argc > 3 ? strtol(argv[3], NULL, 10) : 10000;
    unsigned char request[4096] = {0};
    int length = argc > 4 ? parse_hex(argv[4], request, sizeof request) : 20;
    if (count < 1 || length < 0) {
        fprintf(stderr, "zmq_roundtrip: COUNT must be positive and HEX an even number of hex digits\n");
        return 2;
    }
    void *client = zmq_socket(context, ZMQ_REQ);
    int timeout_ms = 5000;
    zmq_setsockopt(client, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    zmq_connect(client, argv[2]);
    /* warm-up: connection, caches, the daemon's JIT */
    if (round_trips(client, argv[2], request, length, buffer, sizeof buffer, count / 20 + 1) != 0)
        return 1;
    double start = now_seconds();
    if (round_trips(client, argv[2], request, length, buffer, sizeof buffer, count) != 0)
        return 1;
    double elapsed = now_seconds() - start;
    printf("%.0f round trips/s, %.1f us each\n", (double)count / elapsed, elapsed / (double)count * 1e6);
    zmq_close(client);
    zmq_ctx_term(context);
    return 0;
}
