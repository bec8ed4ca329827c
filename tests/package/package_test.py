#!/usr/bin/env python3
"""The .deb as an operator meets it: builds it with CPack (after only the
binary, not every test), checks its files, control data, conffiles and
maintainer scripts, verifies the systemd units with systemd-analyze, and runs
the unpacked binary offline: ONNX Runtime through its RPATH, the shipped models
against their pinned hashes (`concierge doctor`). Nothing is installed.

Usage: package_test.py <build dir> <source dir>. Exit 77 (skipped) without
dpkg-deb or systemd-analyze."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

BUILD, SOURCE = sys.argv[1], sys.argv[2]
UNITS = ["concierge-run.service", "concierge-serve.service", "concierge-edge@.service"]
failures = []


def check(ok, what, detail=""):
    """Prints one line per check; `detail` only when it fails."""
    print(("ok   " if ok else "FAIL ") + what + ("" if ok or not detail else ":\n" + detail))
    if not ok:
        failures.append(what)


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


for tool in ("dpkg-deb", "systemd-analyze", "cpack"):
    if shutil.which(tool) is None:
        print(f"*** {tool} MISSING: package test SKIPPED (scripts/setup.sh installs it) ***")
        sys.exit(77)

with tempfile.TemporaryDirectory(prefix="concierge-package-") as tmp:
    built = run(["cmake", "--build", BUILD, "-j1", "--target", "concierge_cli"])
    if built.returncode != 0:
        sys.exit("building the binary failed:\n" + built.stdout[-3000:] + built.stderr[-3000:])
    packed = run(["cpack", "-G", "DEB", "-B", tmp], cwd=BUILD)
    if packed.returncode != 0:
        sys.exit("cpack failed:\n" + packed.stdout[-3000:] + packed.stderr[-3000:])
    debs = [f for f in os.listdir(tmp) if f.endswith(".deb")]
    check(len(debs) == 1, f"one .deb built ({debs})")
    deb = os.path.join(tmp, debs[0])

    listing = run(["dpkg-deb", "-c", deb]).stdout
    files = {line.split()[-1] if " -> " not in line else line.split()[-3]
             for line in listing.splitlines()}
    models = os.path.realpath(os.path.join(
        run(["cmake", "-L", "-N", BUILD]).stdout.split("CONCIERGE_PACKAGE_MODELS_DIR:PATH=")[1]
        .splitlines()[0]))
    wanted = ["./usr/bin/concierge", "./usr/lib/concierge/libonnxruntime.so.1",
              "./usr/lib/concierge/libconcierge-media.so",
              "./etc/concierge/config.json", "./usr/share/doc/concierge/README.md"]
    wanted += ["./usr/lib/systemd/system/" + u for u in UNITS]
    wanted += ["./usr/share/concierge/models/" + f for f in sorted(os.listdir(models))]
    if os.path.exists(os.path.join(SOURCE, "web/dist/index.html")):
        wanted.append("./usr/share/concierge/web/index.html")
    for f in wanted:
        check(f in files, "the package holds " + f)

    control = run(["dpkg-deb", "-f", deb]).stdout
    depends = next((l for l in control.splitlines() if l.startswith("Depends:")), "")
    for dep in ("libc6", "libopencv", "adduser", "systemd"):
        check(dep in depends, f"Depends names {dep}")
    check("onnxruntime" not in depends, "ONNX Runtime is shipped, not depended on")
    conffiles = run(["dpkg-deb", "-I", deb, "conffiles"]).stdout.split()
    check(conffiles == ["/etc/concierge/config.json"], f"conffiles is the config ({conffiles})")
    postinst = run(["dpkg-deb", "-I", deb, "postinst"]).stdout
    check("adduser --system" in postinst and "/var/lib/concierge" in postinst,
          "postinst creates the concierge user and /var/lib/concierge")
    for script in ("prerm", "postrm"):
        check(run(["dpkg-deb", "-I", deb, script]).returncode == 0, f"the package has {script}")

    root = os.path.join(tmp, "root")
    run(["dpkg-deb", "-x", deb, root])
    config = json.load(open(os.path.join(root, "etc/concierge/config.json")))
    check(config["vision"]["models_dir"] == "/usr/share/concierge/models",
          "the packaged config reads the shipped models")
    check(config["http"]["web_dir"] == "/usr/share/concierge/web",
          "the packaged config serves the shipped web UI")
    unit_dir = os.path.join(root, "usr/lib/systemd/system")
    for unit in UNITS:
        text = open(os.path.join(unit_dir, unit)).read()
        for line in ("User=concierge", "Restart=on-failure", "ProtectSystem=strict",
                     "NoNewPrivileges=yes", "ReadWritePaths=/var/lib/concierge",
                     "--config /etc/concierge/"):
            check(line in text, f"{unit} has {line}")

    # systemd-analyze checks ExecStart against the unpacked tree, which needs the
    # system's targets and slices beside the units; a template is verified
    # through one instance of it. Warnings print but exit 0, so stderr must be empty.
    for host_dir in ("/usr/lib/systemd/system", "/lib/systemd/system"):
        if not os.path.isdir(host_dir):
            continue
        for name in os.listdir(host_dir):
            target = os.path.join(unit_dir, name)
            if name.endswith((".target", ".slice")) and not os.path.lexists(target):
                shutil.copy(os.path.join(host_dir, name), target)
    shutil.copy(os.path.join(unit_dir, "concierge-edge@.service"),
                os.path.join(unit_dir, "concierge-edge@front.service"))
    verify = run(["systemd-analyze", "verify", "--root", root, "--man=no"] +
                 [os.path.join(unit_dir, u) for u in
                  ("concierge-run.service", "concierge-serve.service",
                   "concierge-edge@front.service")])
    check(verify.returncode == 0 and verify.stderr.strip() == "",
          "systemd-analyze verify is clean", verify.stderr)

    # Offline and unpacked: the binary finds libonnxruntime.so.1 beside it.
    binary = os.path.join(root, "usr/bin/concierge")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_", "CONCIERGE_"))}
    env.update({"CONCIERGE_VISION_MODELS_DIR": os.path.join(root, "usr/share/concierge/models"),
                "CONCIERGE_HTTP_PORT": "0"})
    ldd = run(["ldd", binary], env=env).stdout
    onnx = [l.split("=>")[1].split()[0] for l in ldd.splitlines() if "libonnxruntime" in l]
    check([os.path.realpath(p) for p in onnx] ==
          [os.path.realpath(os.path.join(root, "usr/lib/concierge/libonnxruntime.so.1"))],
          "the binary loads the shipped libonnxruntime.so.1", ldd)
    # OpenCV's codecs are a plugin beside it, loaded for a picture that is not a JPEG.
    png = os.path.join(tmp, "one-pixel.png")
    with open(png, "wb") as f:
        def chunk(kind, data):
            return (struct.pack(">I", len(data)) + kind + data +
                    struct.pack(">I", zlib.crc32(kind + data)))
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))
    detect = run([binary, "--data-dir", os.path.join(tmp, "data"), "--log-level", "off",
                  "detect", png], env=dict(env, LD_DEBUG="files"))
    plugin = os.path.join(root, "usr/lib/concierge/libconcierge-media.so")
    check("file=" + plugin in detect.stderr.replace("file=" + os.path.realpath(plugin), "file=" + plugin),
          "a PNG loads the shipped media plugin", detect.stderr[-3000:])
    doctor = run([binary, "--data-dir", os.path.join(tmp, "data"), "--config",
                  os.path.join(root, "etc/concierge/config.json"), "--log-level", "off",
                  "--json", "doctor"], env=env)
    try:
        checks = {c["check"]: c for c in json.loads(doctor.stdout)["checks"]}
    except (ValueError, KeyError):
        checks = {}
    check(checks.get("models", {}).get("ok") is True,
          "the shipped models match their pinned hashes", doctor.stdout + doctor.stderr)
    check(doctor.returncode == 0, "doctor passes on the unpacked package", doctor.stdout)

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
