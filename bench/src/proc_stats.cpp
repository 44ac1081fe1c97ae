#include "proc_stats.hpp"

// linux/tcp.h has the tcp_info fields (bytes acked and received) that glibc's netinet/tcp.h lacks; this
// file includes no Asio header, which pulls in netinet/tcp.h and would clash with it.
#include <linux/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace herald::bench {

namespace {
bool read_cpu(int pid, double& seconds) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  // The command name (field 2) may hold spaces; fields are counted from the closing parenthesis.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(line.substr(close + 2));
  std::string field;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  for (int n = 3; fields >> field; n++) {
    if (n == 14) utime = std::stoull(field);
    if (n == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  seconds += static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  return true;
}

bool read_rss(int pid, uint64_t& bytes) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      bytes += std::stoull(line.substr(6)) * 1024;  // reported in kB
      return true;
    }
  }
  return false;
}
}  // namespace

ProcSample sample_processes(const std::vector<int>& pids) {
  ProcSample sample;
  for (int pid : pids) {
    if (!read_cpu(pid, sample.cpu_seconds) || !read_rss(pid, sample.rss_bytes)) sample.ok = false;
  }
  return sample;
}

SocketBytes socket_bytes(int fd) {
  struct tcp_info info {};
  socklen_t length = sizeof(info);
  if (getsockopt(fd, 6 /* IPPROTO_TCP */, TCP_INFO, &info, &length) != 0) return {};
  return {info.tcpi_bytes_acked, info.tcpi_bytes_received};
}

}  // namespace herald::bench
