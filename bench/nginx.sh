# Sourced by the benchmark scripts: one nginx worker pinned to core 0 on an
# ephemeral loopback port, answering every path with a fixed 3-byte body
# (and /order with a 128-byte JSON order, for checks on a JSON body).
#
# start_nginx DIR: writes the config under DIR, starts nginx, waits until it
# answers; sets PORT and NGINX_PID (the caller stops it by that PID), and
# H2C_PORT: a second listener that speaks HTTP/2 with prior knowledge (h2c).
start_nginx() {
  local dir=$1
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  H2C_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$dir/nginx/logs"
  cat >"$dir/nginx/nginx.conf" <<EOF
worker_processes 1;
worker_cpu_affinity 01;
daemon off;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_temp_path $dir/nginx/body;
  proxy_temp_path $dir/nginx/proxy;
  fastcgi_temp_path $dir/nginx/fastcgi;
  uwsgi_temp_path $dir/nginx/uwsgi;
  scgi_temp_path $dir/nginx/scgi;
  server {
    listen 127.0.0.1:$PORT;
    location / { default_type text/plain; return 200 "ok\n"; }
    location = /order {
      default_type application/json;
      return 200 '{"order_id":"3f0c5a9e-8d1b-4c2e-9a57-2b6f1d0e4c11","product_id":7,"quantity":2,"total_cents":2598,"status":"confirmed"}';
    }
  }
  server {
    listen 127.0.0.1:$H2C_PORT http2;
    http2_max_concurrent_streams 1024;
    location / { default_type text/plain; return 200 "ok\n"; }
  }
}
EOF
  taskset -c 0 nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" &
  NGINX_PID=$!
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/" >/dev/null && break; sleep 0.1; done
}
