// Sha256Hasher: the standard's test vectors, a prefix hashed once standing for its bytes, and
// one context reused message after message.
#include <gtest/gtest.h>

#include "venice_batch/journal.hpp"
#include "venice_batch/sha256.hpp"

using namespace venice_batch;

TEST(Sha256Test, StandardVectors) {
  Sha256Hasher h;
  EXPECT_EQ(h.hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(h.hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(h.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, APrefixHashedOnceIsTheSameAsItsBytesInEveryMessage) {
  Sha256Hasher plain, primed("venice-batch line key 1\n");
  for (const char* line : {"", "{\"prompt\":\"a\"}", "second message after the first"})
    EXPECT_EQ(primed.hex(line), plain.hex(std::string("venice-batch line key 1\n") + line)) << line;
}

TEST(Sha256Test, First64IsTheHexDigestsFirstSixteenDigits) {
  Sha256Hasher h("p");
  const std::string hex = h.hex("message");
  EXPECT_EQ(h.first64("message"), hash_prefix64(hex));
  EXPECT_NE(h.first64("message"), 0u);
}
