#!/usr/bin/env bash
# An independent server for the end-to-end comparison (bench/compare_clients.sh): Debian's nginx on
# loopback over TLS, answering every POST /api/v1/image/generate with one canned Venice-style
# response (a file) and GET /api/v1/api_keys/rate_limits with an empty 200, over keep-alive.
# Usage: bench/nginx_canned.sh DIR PORT CANNED_JSON API_KEY [WORKERS=1]
#   Writes DIR/cert.pem (self-signed EC, IP SAN 127.0.0.1: give it to clients as their CA),
#   DIR/key.pem and DIR/nginx.conf, then runs nginx in the foreground (daemon off) with prefix DIR:
#   its pid file and error log are in DIR. Stop it with SIGTERM (SIGQUIT lets requests finish).
set -euo pipefail
dir=$1 port=$2 canned=$3 key=$4 workers=${5:-1}
canned=$(realpath "$canned")

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -addext basicConstraints=critical,CA:TRUE \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
# nginx's workers drop to www-data when the master runs as root: they must be able to read the file.
user_line=""
if [ "$(id -u)" -eq 0 ]; then
  user_line="user www-data;"
  if ! runuser -u www-data -- test -r "$canned"; then
    echo "nginx_canned: www-data cannot read $canned (make it and its directories world-readable)" >&2
    exit 1
  fi
fi

cat >"$dir/nginx.conf" <<EOF
$user_line
daemon off;
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/client_body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  types { application/json json; }
  default_type application/json;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $dir/cert.pem;
    ssl_certificate_key $dir/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    if (\$http_authorization != "Bearer $key") {
      return 401 '{"error":"Authentication failed"}';
    }
    location = /api/v1/api_keys/rate_limits {
      return 200 '{"data":{"rateLimits":[],"balances":{}}}';
    }
    # nginx's static handler answers a POST with 405; the error page turns it into a GET of the
    # same URI (an internal redirect changes the method), which serves the file with status 200.
    location = /api/v1/image/generate {
      alias $canned;
      error_page 405 =200 \$uri;
    }
    # Connections accepted and requests served, read before and after each run: keep-alive at work.
    location = /__nginx_status { stub_status; }
    location / { return 404 '{"error":"Not found"}'; }
  }
}
EOF
exec nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
