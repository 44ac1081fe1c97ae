// The physical floor of a WebSocket fan-out on this machine: the least a server can do per delivery.
// One thread, epoll, no queues, no framing library: a subscriber is a socket that completed the
// WebSocket handshake on /sub/{channel}; POST /pub/{channel} builds the frame once and makes exactly one
// send() per subscriber (a send the kernel does not take whole is counted and the subscriber dropped: the
// floor has no backpressure). GET /pub/{channel} answers {"subscribers":N}, as bench/peers/ws-server.mjs
// does, so herald-bench drives it as target `ws`.
//   herald-floor [port]   (prints "listening on http://127.0.0.1:PORT")
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace {

struct Connection {
  std::string in;
  std::string channel;  // a subscriber's, once upgraded
  bool subscriber = false;
};

std::unordered_map<int, Connection> connections;
std::unordered_map<std::string, std::unordered_set<int>> channels;
unsigned long long short_sends = 0;

std::string header(std::string_view head, std::string_view name) {
  std::string lower_head(head);
  for (auto& c : lower_head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string key = "\r\n" + std::string(name) + ":";
  auto at = lower_head.find(key);
  if (at == std::string::npos) return {};
  auto start = head.find_first_not_of(' ', at + key.size());
  auto end = head.find("\r\n", start);
  return std::string(head.substr(start, end - start));
}

std::string accept_key(const std::string& key) {
  std::string input = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char out[64];
  int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
}

void send_all(int fd, const std::string& bytes) {
  // Answers to the publisher are small; a short send here would be a broken benchmark, not a floor.
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

void drop(int fd) {
  auto it = connections.find(fd);
  if (it != connections.end() && it->second.subscriber) {
    auto& set = channels[it->second.channel];
    set.erase(fd);
    if (set.empty()) channels.erase(it->second.channel);
  }
  connections.erase(fd);
  close(fd);
}

std::string frame_of(std::string_view payload) {
  std::string frame;
  frame += static_cast<char>(0x81);
  if (payload.size() < 126) {
    frame += static_cast<char>(payload.size());
  } else {
    frame += static_cast<char>(126);
    frame += static_cast<char>((payload.size() >> 8) & 0xFF);
    frame += static_cast<char>(payload.size() & 0xFF);
  }
  frame.append(payload);
  return frame;
}

// Handles whatever complete requests the connection's buffer holds.
void serve(int fd, Connection& c) {
  for (;;) {
    if (c.subscriber) {
      c.in.clear();  // client frames (pongs, close) are not read: the floor only sends
      return;
    }
    auto end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) return;
    std::string head = c.in.substr(0, end);
    std::size_t length = std::strtoul(header(head, "content-length").c_str(), nullptr, 10);
    if (c.in.size() < end + 4 + length) return;
    std::string body = c.in.substr(end + 4, length);
    c.in.erase(0, end + 4 + length);
    auto space = head.find(' ');
    std::string method = head.substr(0, space);
    std::string target = head.substr(space + 1, head.find(' ', space + 1) - space - 1);
    if (method == "GET" && target.rfind("/sub/", 0) == 0) {
      c.subscriber = true;
      c.channel = target.substr(5, target.find('?') - 5);
      channels[c.channel].insert(fd);
      send_all(fd,
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: " +
                   accept_key(header(head, "sec-websocket-key")) + "\r\n\r\n");
      continue;
    }
    if (target.rfind("/pub/", 0) == 0) {
      std::string channel = target.substr(5, target.find('?') - 5);
      auto found = channels.find(channel);
      std::size_t listeners = found == channels.end() ? 0 : found->second.size();
      if (method == "POST" && found != channels.end()) {
        const std::string frame = frame_of(body);  // once per message
        std::vector<int> short_ones;
        for (int subscriber : found->second) {
          ssize_t n = send(subscriber, frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
          if (n != static_cast<ssize_t>(frame.size())) short_ones.push_back(subscriber);
        }
        short_sends += short_ones.size();
        for (int s : short_ones) drop(s);
      }
      std::string answer = "{\"subscribers\":" + std::to_string(listeners) + "}";
      send_all(fd, std::string(method == "POST" ? "HTTP/1.1 201 Created" : "HTTP/1.1 200 OK") +
                       "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(answer.size()) +
                       "\r\n\r\n" + answer);
      continue;
    }
    send_all(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  int port = argc > 1 ? std::atoi(argv[1]) : 0;
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  int yes = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(listener, 4096) != 0) {
    std::perror("herald-floor: listen");
    return 1;
  }
  socklen_t size = sizeof address;
  getsockname(listener, reinterpret_cast<sockaddr*>(&address), &size);
  std::printf("listening on http://127.0.0.1:%d\n", ntohs(address.sin_port));
  std::fflush(stdout);
  int poller = epoll_create1(0);
  epoll_event event{EPOLLIN, {.fd = listener}};
  epoll_ctl(poller, EPOLL_CTL_ADD, listener, &event);
  epoll_event ready[256];
  char buffer[65536];
  for (;;) {
    int n = epoll_wait(poller, ready, 256, -1);
    for (int i = 0; i < n; ++i) {
      int fd = ready[i].data.fd;
      if (fd == listener) {
        int client = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
        if (client < 0) continue;
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
        connections[client];
        epoll_event e{EPOLLIN, {.fd = client}};
        epoll_ctl(poller, EPOLL_CTL_ADD, client, &e);
        continue;
      }
      ssize_t got = recv(fd, buffer, sizeof buffer, 0);
      if (got <= 0) {
        drop(fd);
        continue;
      }
      auto& c = connections[fd];
      c.in.append(buffer, static_cast<std::size_t>(got));
      serve(fd, c);
    }
  }
}
