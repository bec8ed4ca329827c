#!/usr/bin/python3
"""A network camera for the edge tests: serves a video file over RTSP.

    serve_clip.py PORT CLIP     (PORT 0: any free port on 127.0.0.1)

Streams CLIP's H.264 video, unchanged and at its own pace, at
rtsp://127.0.0.1:PORT/live, and prints "rtsp: serving on PORT" once it listens.
Each client gets the clip from its start; at the clip's end the stream ends.
GStreamer's RTSP server from Debian (gir1.2-gst-rtsp-server-1.0, python3-gi).
"""
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    port, clip = sys.argv[1], sys.argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    location = clip.replace("\\", "\\\\").replace('"', '\\"')
    factory.set_launch(
        f'( filesrc location="{location}" ! qtdemux name=demux demux.video_0 ! queue '
        "! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 )")
    server.get_mount_points().add_factory("/live", factory)
    if server.attach(None) == 0:
        print(f"rtsp: cannot listen on 127.0.0.1:{port}", file=sys.stderr)
        return 1
    print(f"rtsp: serving on {server.get_bound_port()}", flush=True)
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
