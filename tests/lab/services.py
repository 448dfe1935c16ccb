"""The lab's servers, real Debian daemons in the foreground inside their namespaces: nginx
(a few pages and a login form), OpenSSH's sshd, dnsmasq authoritative for ``lab.example``,
vsftpd (anonymous downloads), ``iperf3 -s`` and iodined (the DNS tunnel's far end, an
attacker's server). Their configuration, keys and content live in the run's work directory.
"""

import os
import random
import subprocess

ZONE = "lab.example"
TUNNEL_ZONE = "t." + ZONE
TUNNEL_NET = "203.0.113.225/27"  # inside the tunnel only (iodine's tun devices)
TUNNEL_SERVER_IP = "203.0.113.225"
TUNNEL_PASSWORD = "osprey-lab"
PAGES = ("index.html", "about.html", "news.html", "products.html", "contact.html",
         "docs/guide.html", "docs/faq.html", "login.html")
FTP_FILES = {"pub/readme.txt": 2_000, "pub/release.tar": 150_000, "pub/data.bin": 60_000}

NGINX_CONF = """\
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log {work}/nginx-access.log;
  client_body_temp_path {work}/nginx-body;
  proxy_temp_path {work}/nginx-proxy;
  fastcgi_temp_path {work}/nginx-fastcgi;
  uwsgi_temp_path {work}/nginx-uwsgi;
  scgi_temp_path {work}/nginx-scgi;
  default_type text/html;
  keepalive_timeout 5;
  client_header_timeout 20;
  server {{
    listen {ip4}:80;
    listen [{ip6}]:80;
    root {work}/www;
    # Every login fails: the brute force never finds a password.
    location = /login {{ return 200 "<html><body>invalid credentials</body></html>\\n"; }}
    location /c2/ {{ return 200 "ok\\n"; }}
  }}
}}
"""

SSHD_CONF = """\
ListenAddress {ip4}
ListenAddress {ip6}
HostKey {work}/ssh_host_ed25519_key
PidFile {work}/sshd.pid
AuthorizedKeysFile {work}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 64:30:128
MaxAuthTries 6
LoginGraceTime 20
"""

VSFTPD_CONF = """\
listen=YES
listen_ipv6=NO
listen_address={ip4}
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root={work}/ftp
local_enable=NO
write_enable=NO
secure_chroot_dir={work}/ftp-empty
pasv_enable=YES
pasv_min_port=40000
pasv_max_port=40100
xferlog_enable=NO
vsftpd_log_file={work}/vsftpd.log
seccomp_sandbox=NO
"""


def _write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def _text(rng, words):
    vocab = ("network", "appliance", "flow", "packet", "service", "update", "release",
             "customer", "support", "report", "quarter", "team", "product", "guide")
    return " ".join(rng.choice(vocab) for _ in range(words))


def write_site(work, seed):
    """The web pages (sizes vary by page, content by seed) and the FTP tree."""
    rng = random.Random("site-%d" % seed)
    for page in PAGES:
        if page == "login.html":
            body = ('<form method="post" action="/login"><input name="user">'
                    '<input name="pass" type="password"><button>Sign in</button></form>')
        else:
            links = "".join('<a href="/%s">%s</a> ' % (p, p) for p in PAGES)
            body = "<p>%s</p><nav>%s</nav>" % (_text(rng, rng.randint(50, 800)), links)
        _write(os.path.join(work, "www", page),
               "<html><head><title>%s</title></head><body>%s</body></html>\n" % (page, body))
    for name, size in FTP_FILES.items():
        path = os.path.join(work, "ftp", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(rng.randbytes(size))
    os.makedirs(os.path.join(work, "ftp-empty"), exist_ok=True)
    for d in ("ftp", "ftp/pub", "ftp-empty", "www", "www/docs"):
        os.chmod(os.path.join(work, d), 0o755)


def ssh_keys(work):
    """The server's host key and the benign client's key (authorised for root)."""
    for name in ("ssh_host_ed25519_key", "client_key"):
        path = os.path.join(work, name)
        if not os.path.exists(path):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab",
                            "-f", path], check=True)
    with open(os.path.join(work, "client_key.pub")) as src:
        _write(os.path.join(work, "authorized_keys"), src.read(), 0o600)


def server_commands(work, hosts, seed):
    """(host name, argv) of every server daemon, all in the foreground."""
    write_site(work, seed)
    ssh_keys(work)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    by = {h.family: h for h in hosts if h.role == "server"}
    web, ssh, dns, ftp = by["http"], by["ssh"], by["dns"], by["ftp"]
    _write(os.path.join(work, "nginx.conf"),
           NGINX_CONF.format(work=work, ip4=web.ip4, ip6=web.ip6))
    _write(os.path.join(work, "sshd_config"),
           SSHD_CONF.format(work=work, ip4=ssh.ip4, ip6=ssh.ip6))
    _write(os.path.join(work, "vsftpd.conf"), VSFTPD_CONF.format(work=work, ip4=ftp.ip4))
    for d in ("nginx-body", "nginx-proxy", "nginx-fastcgi", "nginx-uwsgi", "nginx-scgi"):
        os.makedirs(os.path.join(work, d), exist_ok=True)
    records = ["--host-record=%s.%s,%s,%s" % (h.family, ZONE, h.ip4, h.ip6)
               for h in hosts if h.role == "server" and h.family != "iodine"]
    records.append("--host-record=www.%s,%s,%s" % (ZONE, web.ip4, web.ip6))
    tunnel = by["iodine"]
    # The tunnel's web server starts once iodined has given the tunnel its address.
    tunnel_web = ("while ! ip -o addr show | grep -q ' %s/'; do sleep 0.2; done; "
                  "exec python3 -m http.server --bind %s --directory %s 8080"
                  % (TUNNEL_SERVER_IP, TUNNEL_SERVER_IP, os.path.join(work, "ftp", "pub")))
    return [
        ("web", ["nginx", "-c", os.path.join(work, "nginx.conf"), "-g", "daemon off;"]),
        ("ssh", ["/usr/sbin/sshd", "-D", "-e", "-f", os.path.join(work, "sshd_config")]),
        ("dns", ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                 "--no-hosts", "--bind-interfaces", "--user=root", "--group=root",
                 "--pid-file=" + os.path.join(work, "dnsmasq.pid"),
                 "--listen-address=%s,%s" % (dns.ip4, dns.ip6), "--except-interface=lo",
                 "--auth-server=ns.%s,eth0" % ZONE, "--auth-zone=" + ZONE,
                 "--local=/%s/" % ZONE, *records]),
        ("ftp", ["vsftpd", os.path.join(work, "vsftpd.conf")]),
        ("iperf", ["iperf3", "-s", "-B", by["iperf"].ip4]),
        ("tun", ["iodined", "-f", "-c", "-P", TUNNEL_PASSWORD, "-l", tunnel.ip4, "-p", "53",
                 TUNNEL_NET, TUNNEL_ZONE]),
        ("tun", ["sh", "-c", tunnel_web]),
    ]
