// The one translation unit that compiles Asio, Asio.SSL, Beast and Boost.URL
// (separate compilation): every other file includes only their declarations,
// which keeps a rebuild on 2 cores in seconds rather than minutes.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
#include <boost/url/src.hpp>
