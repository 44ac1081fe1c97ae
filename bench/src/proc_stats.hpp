#pragma once
// The server's cost as the kernel sees it, read from /proc of its processes (nginx: master and workers).
#include <cstdint>
#include <vector>

namespace herald::bench {

struct ProcSample {
  double cpu_seconds = 0;  // utime + stime of every pid
  uint64_t rss_bytes = 0;  // VmRSS of every pid
  bool ok = true;          // every pid could be read
};

ProcSample sample_processes(const std::vector<int>& pids);

// Bytes a TCP socket has had acknowledged (sent) and received, from TCP_INFO: the bytes on the wire
// above TCP, whatever the protocol on top. {0, 0} when the kernel cannot say.
struct SocketBytes {
  uint64_t sent = 0;
  uint64_t received = 0;
};
SocketBytes socket_bytes(int fd);

}  // namespace herald::bench
