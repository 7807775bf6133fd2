"""process_vm_readv reader: page splitting, partial reads at unmapped memory, strings."""

from __future__ import annotations

import ctypes
import mmap
import os

from pdigpy.tracer.memory import PAGE_SIZE, ProcessMemory

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


def _two_pages_second_unmapped() -> int:
    base = libc.mmap(None, 2 * PAGE_SIZE, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    assert base not in (None, ctypes.c_void_p(-1).value)
    assert libc.munmap(base + PAGE_SIZE, PAGE_SIZE) == 0
    return base


def test_readable_prefix_before_unmapped_page():
    base = _two_pages_second_unmapped()
    try:
        start = base + PAGE_SIZE - 64
        ctypes.memmove(start, b"x" * 64, 64)
        m = ProcessMemory()
        # 200 bytes requested, the last 136 unmapped: the 64 readable ones come back
        assert m.read(os.getpid(), start, 200) == b"x" * 64
        # a string without NUL that runs into the hole: what is readable
        assert m.read_cstr(os.getpid(), start) == b"x" * 64
        assert m.read_cstr(os.getpid(), base + PAGE_SIZE) is None
    finally:
        libc.munmap(base, PAGE_SIZE)


def test_strings_across_pages_and_limits():
    buf = mmap.mmap(-1, 3 * PAGE_SIZE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    s = b"/" + b"p" * 5000 + b"/end"  # spans two page boundaries
    off = PAGE_SIZE - 10
    buf[off : off + len(s) + 1] = s + b"\0"
    m = ProcessMemory()
    pid = os.getpid()
    assert m.read_cstr(pid, base + off, limit=8192) == s
    assert m.read_cstr(pid, base + off, limit=100) == s[:100]
    assert m.read_cstr(pid, base + off + len(s)) == b""
    assert m.read(pid, base + off, len(s)) == s
    assert m.read_cstr(pid, 0) is None
    del base


def test_reads_another_process():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        data = ctypes.create_string_buffer(b"child-secret-string")
        os.write(w, str(ctypes.addressof(data)).encode())
        os.close(w)
        os.read(os.open("/dev/null", os.O_RDONLY), 1)
        import time

        time.sleep(5)
        os._exit(0)
    os.close(w)
    addr = int(os.read(r, 64))
    os.close(r)
    try:
        assert ProcessMemory().read_cstr(pid, addr) == b"child-secret-string"
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    # gone: no exception, just nothing
    assert ProcessMemory().read_cstr(pid, addr) is None
