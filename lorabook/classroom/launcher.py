"""`python -m lorabook classroom`: serve app.ipynb with Voila on 127.0.0.1 until Ctrl-C.

Voila runs in a child process. Its kernel imports the same lorabook as this
process (PYTHONPATH points at this package's folder) and shows no code
cells (Voila strips sources). Only this machine can connect: the server
listens on 127.0.0.1, and a projector shows the teacher's own browser.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import webbrowser
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.ipynb"
HOST = "127.0.0.1"


def free_port(preferred, tries=50):
    """`preferred` if nothing listens there on 127.0.0.1, else the next free port above it."""
    for port in range(preferred, preferred + tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port on {HOST} in {preferred}..{preferred + tries - 1}; give another --port")


def voila_command(port):
    """The command line that serves the app on HOST:port (no browser, no code shown, light theme)."""
    return [sys.executable, "-m", "voila", str(APP), f"--port={port}", "--no-browser", f"--Voila.ip={HOST}",
            "--theme=light", "--strip_sources=True", "--show_tracebacks=True"]


def app_environment():
    """This environment, with this package importable by Voila's kernel (first on PYTHONPATH)."""
    package_parent = str(Path(__file__).resolve().parents[2])
    paths = [package_parent, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


def start(port=8866, quiet=True):
    """Start the server in a child process; returns (process, url) once it answers, or raises RuntimeError."""
    port = free_port(port)
    url = f"http://{HOST}:{port}/"
    output = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen(voila_command(port), env=app_environment(), stdout=output, stderr=output,
                               stdin=subprocess.DEVNULL)  # no "shut down? (y/n)" prompt on Ctrl-C
    try:
        _wait_until_listening(process, port)
    except BaseException:  # Ctrl-C while starting, or a server that never answers: leave nothing running
        stop(process)
        raise
    return process, url


def _wait_until_listening(process, port, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Voila server stopped at start (exit status {process.returncode}); "
                               f"run {' '.join(voila_command(port))} to see why")
        try:
            with socket.create_connection((HOST, port), timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the Voila server did not listen on {HOST}:{port} within {seconds} s")


def stop(process):
    """Stop the server (and with it its kernels): terminate, then kill if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve(port=8866, open_browser=False):
    """Run the app until Ctrl-C: prints the URL; the first page takes 10-30 s (training the source model)."""
    try:
        process, url = start(port)
    except KeyboardInterrupt:
        print("\nstopped before the classroom app was ready", flush=True)
        return 0
    print(f"The classroom app is running at {url}  (only this computer can reach it; Ctrl-C stops it)", flush=True)
    print("The first page takes 10-30 s (the source model is trained once); then each new slider "
          "position answers in about a second, and positions seen before at once.", flush=True)
    if open_browser:
        webbrowser.open(url)
    try:
        process.wait()
    except KeyboardInterrupt:
        print("\nstopping the classroom app ...", flush=True)
    finally:
        stop(process)
    return 0
