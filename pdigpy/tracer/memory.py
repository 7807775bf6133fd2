"""Reading the tracee's memory with process_vm_readv.

The remote range is split at page boundaries into one iovec per page, so a
buffer that runs into unmapped memory still yields its readable prefix
(process_vm_readv stops at the first iovec that faults). Strings are read
one page-bounded chunk at a time until the NUL. Buffers are preallocated:
this runs at most stops that decode a path.
"""

from __future__ import annotations

import ctypes
import mmap

from pdigpy.tracer import ptrace as _pt

PAGE_SIZE = mmap.PAGESIZE
_BUF_SIZE = 64 * 1024
_MAX_IOV = _BUF_SIZE // PAGE_SIZE + 1
_FIRST_CHUNK = 256


class ProcessMemory:
    """:class:`pdigpy.tracer.syscalls.spec.MemReader` over process_vm_readv."""

    __slots__ = (
        "_buf", "_view", "_buf_addr", "_local", "_remote", "_remote0", "_remote_addr", "_local_addr",
        "reads", "failures",
    )

    def __init__(self) -> None:
        # A bytearray, so that the NUL is searched in place and only the string is copied out.
        self._buf = bytearray(_BUF_SIZE)
        self._view = memoryview(self._buf)
        self._buf_addr = ctypes.addressof((ctypes.c_char * _BUF_SIZE).from_buffer(self._buf))
        self._local = _pt.IoVec(self._buf_addr, _BUF_SIZE)
        # byref objects built once: the cheapest pointer argument for ctypes
        self._local_addr = ctypes.byref(self._local)
        self._remote = (_pt.IoVec * _MAX_IOV)()
        self._remote_addr = ctypes.byref(self._remote)
        self._remote0 = self._remote[0]  # a view, reused: indexing allocates
        self.reads = 0
        self.failures = 0

    def read(self, tid: int, addr: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``addr``; shorter when the range runs into unmapped memory."""
        if size <= 0 or addr <= 0:
            return b""
        out = []
        while size > 0:
            chunk = min(size, _BUF_SIZE - PAGE_SIZE)
            data = self._read_chunk(tid, addr, chunk)
            out.append(data)
            if len(data) < chunk:
                break
            addr += chunk
            size -= chunk
        return out[0] if len(out) == 1 else b"".join(out)

    def _read_chunk(self, tid: int, addr: int, size: int) -> bytes:
        remote = self._remote
        n = 0
        a = addr
        end = addr + size
        while a < end:
            page_end = (a | (PAGE_SIZE - 1)) + 1
            if page_end > end:
                page_end = end
            iov = remote[n]
            iov.iov_base = a
            iov.iov_len = page_end - a
            n += 1
            a = page_end
        self._local.iov_len = size
        self.reads += 1
        got = _pt.process_vm_readv_hot(tid, self._local_addr, 1, self._remote_addr, n, 0)
        if got <= 0:
            self.failures += 1
            return b""
        return self._view[:got].tobytes()

    def read_cstr(self, tid: int, addr: int, limit: int = 4096) -> bytes | None:
        """A NUL-terminated string without its NUL; None for a NULL or unreadable pointer.

        A string longer than ``limit`` is cut at ``limit`` bytes.
        """
        if addr <= 0:
            return None
        iov = self._remote0
        local = self._local
        buf = self._buf
        parts = []
        left = limit
        first = True
        while left > 0:
            chunk = ((addr | (PAGE_SIZE - 1)) + 1) - addr  # up to the end of this page
            if first and chunk > _FIRST_CHUNK:
                chunk = _FIRST_CHUNK  # most strings are short: copy little
            first = False
            if chunk > left:
                chunk = left
            iov.iov_base = addr
            iov.iov_len = chunk
            local.iov_len = chunk
            self.reads += 1
            got = _pt.process_vm_readv_hot(tid, self._local_addr, 1, self._remote_addr, 1, 0)
            if got <= 0:
                self.failures += 1
                if not parts:
                    return None
                break
            nul = buf.find(0, 0, got)
            if nul >= 0:
                parts.append(self._view[:nul].tobytes())
                break
            parts.append(self._view[:got].tobytes())
            addr += got
            left -= got
        return parts[0] if len(parts) == 1 else b"".join(parts)
