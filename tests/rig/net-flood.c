/* Guest-side network flooder for the rig's net-flood case, built static
 * (the guest is busybox, whose nc has no UDP and no rate it can push):
 *   net-flood udp|tcp HOST PORT STREAMS SECONDS
 * starts STREAMS senders towards HOST:PORT that send as fast as the guest's
 * stack takes data (UDP: 1200-byte datagrams, TCP: 64 KiB writes) until
 * SECONDS have passed or the flooder is killed. Each sender prints what it
 * sent when it stops by itself. The senders run at the lowest priority
 * (nice 19; busybox has no nice), so the guest's own scheduler still gives
 * other work its turn: the rig case tests the VMM's fairness, not the
 * guest's, and the flood takes every cycle left. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int sender(int tcp, const struct sockaddr_in *to, int seconds)
{
    static char buf[65536];
    size_t chunk = tcp ? sizeof(buf) : 1200;
    unsigned long long sent = 0, n = 0;
    int s = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
    if (s < 0 || connect(s, (const struct sockaddr *)to, sizeof(*to)) < 0) {
        perror("net-flood: connect");
        return 1;
    }
    memset(buf, 0x5a, sizeof(buf));
    time_t end = time(NULL) + seconds;
    while (time(NULL) < end) {
        memcpy(buf, &n, sizeof(n));  /* a sequence number, for a capture's sake */
        ssize_t r = send(s, buf, chunk, 0);
        if (r < 0) {
            /* UDP: the qdisc or the host's refused port pushed back; go on */
            if (errno == ENOBUFS || errno == EAGAIN || errno == ECONNREFUSED || errno == EINTR)
                continue;
            perror("net-flood: send");
            return 1;
        }
        sent += (unsigned long long)r;
        n++;
    }
    printf("net-flood: %s sender sent %llu bytes in %llu writes\n", tcp ? "tcp" : "udp", sent, n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 6 || (strcmp(argv[1], "udp") && strcmp(argv[1], "tcp"))) {
        fprintf(stderr, "usage: net-flood udp|tcp HOST PORT STREAMS SECONDS\n");
        return 2;
    }
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[3])) };
    if (inet_pton(AF_INET, argv[2], &to.sin_addr) != 1) {
        fprintf(stderr, "net-flood: bad address %s\n", argv[2]);
        return 2;
    }
    int tcp = !strcmp(argv[1], "tcp"), streams = atoi(argv[4]), seconds = atoi(argv[5]);
    signal(SIGPIPE, SIG_IGN);
    setpriority(PRIO_PROCESS, 0, 19);
    for (int i = 0; i < streams; i++)
        if (fork() == 0)
            return sender(tcp, &to, seconds);
    int status, bad = 0;
    while (wait(&status) > 0)
        bad |= !WIFEXITED(status) || WEXITSTATUS(status);
    return bad;
}
