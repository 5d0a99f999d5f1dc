// Shared helpers for the tests live in test_support.hpp; this file holds their definitions.
