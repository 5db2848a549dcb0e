"""A UDP echo for the tests' namespaces: ``python3 -c UDP_ECHO ADDRESS PORT`` answers every
datagram for at most 30 s, so a test that dies leaves nothing running long."""

from __future__ import annotations

UDP_ECHO = (
    "import socket, sys, time\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "s.bind((sys.argv[1], int(sys.argv[2]))); s.settimeout(0.5)\n"
    "end = time.monotonic() + 30\n"
    "while time.monotonic() < end:\n"
    "    try:\n"
    "        data, peer = s.recvfrom(2048)\n"
    "    except TimeoutError:\n"
    "        continue\n"
    "    s.sendto(data, peer)\n"
)
