#!/usr/bin/env python3
"""Expose a byte stream on a pseudo-terminal (used by `liquid-agent emulate-stm32 --pty` and tests).

  pty-bridge.py [--link PATH]             relay: pty <-> this process's stdin/stdout
  pty-bridge.py [--link PATH] --exec CMD  run CMD with the pty master as its stdin and stdout

The first line on stderr is "PTY <slave path>". The slave is put in raw mode and kept open here,
so a client may close and reopen it without the master seeing EIO. Exits when stdin closes.
"""
import os, pty, select, subprocess, sys, tty

args = sys.argv[1:]
link = None
cmd = None
while args:
    a = args.pop(0)
    if a == "--link":
        link = args.pop(0)
    elif a == "--exec":
        cmd = args
        args = []
master, slave = pty.openpty()
tty.setraw(slave)
name = os.ttyname(slave)
if link:
    try:
        os.unlink(link)
    except FileNotFoundError:
        pass
    os.symlink(name, link)
sys.stderr.write("PTY %s\n" % name)
sys.stderr.flush()
child = None
try:
    if cmd:
        child = subprocess.Popen(cmd, stdin=master, stdout=master)
        while child.poll() is None:
            r, _, _ = select.select([0], [], [], 0.2)
            if r and not os.read(0, 4096):
                break
    else:
        while True:
            r, _, _ = select.select([master, 0], [], [])
            if master in r:
                try:
                    os.write(1, os.read(master, 65536))
                except OSError:
                    pass
            if 0 in r:
                data = os.read(0, 65536)
                if not data:
                    break
                os.write(master, data)
finally:
    if child and child.poll() is None:
        child.kill()
    if link:
        try:
            os.unlink(link)
        except OSError:
            pass
