#!/usr/bin/env python3
# Runs a command (an OpenSSH client, in the gateway tests) on a real pseudo-terminal of a given size and
# drives it from a script on stdin, one step per line (JSON):
#   {"send": "text"}                      write to the terminal
#   {"expect": "regex", "timeout": 10}    wait until the output so far (since the last expect) matches
#   {"resize": [rows, cols]}              set the terminal size and send SIGWINCH, as a terminal window does
#   {"echo": n}                           n single-key round trips (type a key, wait for its echo); prints the median ms
# Prints {"exit": code, "output": "..."} at the end (and {"fail": "..."} when an expect times out).
import fcntl, json, os, re, select, signal, struct, subprocess, sys, termios, time

rows, cols = int(sys.argv[1]), int(sys.argv[2])
argv = sys.argv[3:]
master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

def child_setup():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)

proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, preexec_fn=child_setup, close_fds=True)
os.close(slave)
out = b""
mark = 0
result = {}

def read_some(timeout):
    global out
    r, _, _ = select.select([master], [], [], timeout)
    if not r:
        return False
    try:
        data = os.read(master, 65536)
    except OSError:
        return None
    if not data:
        return None
    out += data
    return True

steps = [json.loads(l) for l in sys.stdin.read().splitlines() if l.strip()]
for step in steps:
    if "send" in step:
        os.write(master, step["send"].encode())
    elif "resize" in step:
        r, c = step["resize"]
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", r, c, 0, 0))
        proc.send_signal(signal.SIGWINCH)
    elif "expect" in step:
        deadline = time.time() + step.get("timeout", 10)
        pat = re.compile(step["expect"].encode())
        while not pat.search(out, mark):
            left = deadline - time.time()
            if left <= 0 or read_some(left) is None:
                result["fail"] = "no %r in %r" % (step["expect"], out[mark:][-500:].decode("utf8", "replace"))
                break
        if "fail" in result:
            break
        mark = pat.search(out, mark).end()
    elif "echo" in step:
        times = []
        for i in range(step["echo"]):
            ch = b"abcdefghij"[i % 10:i % 10 + 1]
            t0 = time.perf_counter()
            os.write(master, ch)
            while out.find(ch, mark) < 0:
                if read_some(5) is None:
                    break
            times.append((time.perf_counter() - t0) * 1000)
            mark = len(out)
        times.sort()
        result["echoMedianMs"] = times[len(times) // 2] if times else None
        os.write(master, b"\x15")  # erase the typed line

# Drain until the process exits.
deadline = time.time() + 15
while proc.poll() is None and time.time() < deadline:
    if read_some(0.2) is None:
        break
try:
    code = proc.wait(timeout=max(0.1, deadline - time.time()))
except subprocess.TimeoutExpired:
    proc.kill()
    code = proc.wait()
result["exit"] = code
result["output"] = out.decode("utf8", "replace")
print(json.dumps(result))
