"""A throwaway test PKI made with the openssl CLI (and faketime).

    pki = Pki(dirname)      # builds once per directory
    pki.path("ca.crt"), pki.cert("good"), pki.key("good"),
    pki.fingerprint("selfsigned")   # "AB:CD:..." SHA-256 of the DER

Certificates (EC P-256 unless noted; "localhost" + 127.0.0.1 + ::1
SANs unless noted):
    ca          the test CA (ca.crt)
    good        signed by ca
    rsa         signed by ca, RSA 2048 key
    wrongname   signed by ca, only wrong.example / 127.0.0.9
    expired     signed by ca, valid 2020-01-01 .. 2020-01-31 (faketime)
    selfsigned  self-signed
    unknownca   signed by another CA nobody trusts
"""
import atexit
import os
import shutil
import subprocess
import tempfile

SAN_OK = "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"
SAN_WRONG = "subjectAltName=DNS:wrong.example,IP:127.0.0.9"


def _run(argv, **kw):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=60, **kw)


class Pki:
    def __init__(self, d):
        self.d = d
        os.makedirs(d, exist_ok=True)
        if not os.path.exists(self.path("done")):
            self._build()
            open(self.path("done"), "w").close()

    def path(self, name):
        return os.path.join(self.d, name)

    def cert(self, name):
        return self.path(name + ".crt")

    def key(self, name):
        return self.path(name + ".key")

    def fingerprint(self, name):
        out = subprocess.run(
            ["openssl", "x509", "-in", self.cert(name), "-noout",
             "-fingerprint", "-sha256"], check=True, timeout=30,
            stdout=subprocess.PIPE, text=True).stdout
        return out.strip().split("=", 1)[1]

    def leaf(self, name, cn, san):
        """A further leaf signed by ca, made once; its certificate."""
        if not os.path.exists(self.cert(name)):
            self._leaf(name, "ca", cn, san)
        return self.cert(name)

    def _key(self, name, rsa=False):
        if rsa:
            _run(["openssl", "genrsa", "-out", self.key(name), "2048"])
        else:
            _run(["openssl", "ecparam", "-genkey", "-name", "prime256v1",
                  "-noout", "-out", self.key(name)])

    def _ca(self, name, cn):
        self._key(name)
        _run(["openssl", "req", "-x509", "-new", "-key", self.key(name),
              "-subj", "/CN=" + cn, "-days", "3650", "-sha256",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign",
              "-out", self.cert(name)])

    def _leaf(self, name, ca, cn, san, rsa=False, fake=None, days=825):
        self._key(name, rsa)
        csr = self.path(name + ".csr")
        ext = self.path(name + ".ext")
        with open(ext, "w") as f:
            f.write(san + "\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n")
        _run(["openssl", "req", "-new", "-key", self.key(name), "-subj",
              "/CN=" + cn, "-out", csr])
        argv = ["openssl", "x509", "-req", "-in", csr, "-CA",
                self.cert(ca), "-CAkey", self.key(ca), "-CAcreateserial",
                "-days", str(days), "-sha256", "-extfile", ext,
                "-out", self.cert(name)]
        if fake:
            argv = ["faketime", fake] + argv
        _run(argv)

    def _build(self):
        self._ca("ca", "edgemta test CA")
        self._ca("otherca", "unknown test CA")
        self._leaf("good", "ca", "localhost", SAN_OK)
        self._leaf("rsa", "ca", "localhost", SAN_OK, rsa=True)
        self._leaf("wrongname", "ca", "wrong.example", SAN_WRONG)
        self._leaf("expired", "ca", "localhost", SAN_OK,
                   fake="2020-01-01 00:00:00", days=30)
        self._leaf("unknownca", "otherca", "localhost", SAN_OK)
        self._key("selfsigned")
        _run(["openssl", "req", "-x509", "-new", "-key",
              self.key("selfsigned"), "-subj", "/CN=localhost", "-days",
              "825", "-sha256", "-addext", SAN_OK, "-out",
              self.cert("selfsigned")])
        # chain files: leaf then CA (what a server presents)
        for n in ("good", "rsa", "wrongname", "expired"):
            with open(self.path(n + ".chain"), "w") as f:
                f.write(open(self.cert(n)).read())
                f.write(open(self.cert("ca")).read())


_SHARED = None


def shared():
    """One Pki per test process in a temporary directory, built on first
    use and removed at exit."""
    global _SHARED
    if _SHARED is None:
        d = tempfile.mkdtemp(prefix="edgemta-pki-")
        atexit.register(shutil.rmtree, d, True)
        _SHARED = Pki(d)
    return _SHARED
