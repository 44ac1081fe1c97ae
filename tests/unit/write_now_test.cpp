// write_now (http/net_stream.hpp): a gathered write offered to the kernel without waiting, on a real
// loopback connection. What the kernel does not take must be left in the buffers exactly where it stopped,
// however the stop falls (inside a buffer, on a boundary, past Asio's 64 buffers per call), or the rest of a
// WebSocket frame or an HTTP answer would be lost or sent twice.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <boost/asio/read.hpp>

#include "http/net_stream.hpp"

namespace herald {
namespace {

struct Loopback {
  asio::io_context io;
  tcp::socket writer{io};
  tcp::socket reader{io};
  Loopback() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    writer.connect(acceptor.local_endpoint());
    acceptor.accept(reader);
    // Small buffers on both sides, so that the kernel stops taking early.
    writer.set_option(asio::socket_base::send_buffer_size(16384));
    reader.set_option(asio::socket_base::receive_buffer_size(16384));
  }
  // Reads everything the writer sent so far (the writer has stopped writing).
  std::string drain(std::size_t expected) {
    std::string got(expected, '\0');
    asio::read(reader, asio::buffer(got));
    return got;
  }
};

// 300 buffers of 1 to 997 bytes with distinct contents: more than one sendmsg's 64, and stops that fall
// inside buffers.
std::vector<std::string> pieces() {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < 300; ++i) out.emplace_back(1 + (i * 131) % 997, static_cast<char>('a' + i % 26));
  return out;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string all;
  for (const auto& part : parts) all += part;
  return all;
}

std::vector<asio::const_buffer> buffers_of(const std::vector<std::string>& parts) {
  std::vector<asio::const_buffer> buffers;
  for (const auto& part : parts) buffers.emplace_back(part.data(), part.size());
  return buffers;
}

std::string rest_of(const std::vector<asio::const_buffer>& buffers) {
  std::string rest;
  for (const auto& buffer : buffers) rest.append(static_cast<const char*>(buffer.data()), buffer.size());
  return rest;
}

TEST(WriteNow, TakesEverythingThatFitsAndLeavesNothing) {
  Loopback link;
  const std::vector<std::string> parts{"HTTP/1.1 200 OK\r\n\r\n", "", "{\"a\":1}"};
  auto buffers = buffers_of(parts);
  error_code ec;
  EXPECT_EQ(write_now(link.writer, buffers, ec), joined(parts).size());
  EXPECT_FALSE(ec);
  EXPECT_TRUE(buffers.empty());
  EXPECT_EQ(link.drain(joined(parts).size()), joined(parts));
}

TEST(WriteNow, AFullSocketLeavesTheRestWhereTheKernelStopped) {
  Loopback link;
  const auto parts = pieces();
  const std::string all = joined(parts);
  auto buffers = buffers_of(parts);
  std::string sent;
  std::size_t rounds = 0;
  // Write what the kernel takes, read it on the other side, and go on from what was left, until done: the
  // bytes read must be the bytes given, in order, each once.
  while (!buffers.empty()) {
    ASSERT_LT(++rounds, 10000U);
    const std::string before = rest_of(buffers);
    error_code ec;
    const std::size_t n = write_now(link.writer, buffers, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(before.substr(n), rest_of(buffers));          // what is left is exactly the unwritten tail
    if (n == 0) link.writer.wait(tcp::socket::wait_write);  // read enough: its window opens again
    sent += link.drain(n);
  }
  EXPECT_GT(rounds, 1U) << "the kernel took " << all.size() << " bytes at once: the test did not fill the socket";
  EXPECT_EQ(sent, all);
}

TEST(WriteNow, AClosedPeerIsAFailureNotAFullSocket) {
  Loopback link;
  link.reader.close();
  const std::string big(1 << 20, 'x');
  std::vector<asio::const_buffer> buffers{asio::buffer(big)};
  error_code ec;
  // The first write may still be taken; the peer's reset makes a later one fail.
  for (int i = 0; i < 100 && !ec; ++i) {
    buffers = {asio::buffer(big)};
    write_now(link.writer, buffers, ec);
  }
  EXPECT_TRUE(ec);
}

}  // namespace
}  // namespace herald
