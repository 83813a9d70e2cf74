"""Python binding of libslotcache over ctypes (standard library only).

    import slotcache
    with slotcache.open("app.slc", key_size=16, index_size=8,
                        slot_capacity=100000) as c:
        with c.writer() as w:          # commits on success, discards on error
            w.put(b"k" * 16, 1, b"\\0" * 8)
        rev, index = c.get(b"k" * 16)  # None when absent

The shared library is the one named by $SLOTCACHE_LIBRARY (a path), else
the installed libslotcache.so.0 the dynamic loader finds. Every SLC_E*
status raises its own subclass of SlotcacheError carrying the code and the
library's detail text (slc_errdetail). See docs/python.md.
"""
import ctypes
import ctypes.util
import os
import threading

__all__ = [
    "open", "Cache", "Writer", "SlotcacheError", "CorruptError",
    "IncompatibleError", "InvalidatedError", "BusyError", "FullError",
    "ClosedError", "WritebackError", "InvalidError", "UnorderedError",
    "OutOfOrderError", "NoMemoryError", "SystemCallError",
    "ORDERED_KEYS", "WRITEBACK_SYNC", "NO_LOCK", "READ_ONLY",
    "USER_DATA_SIZE", "library_version",
]

# Values from include/slotcache.h (ABI: never renumbered).
OK, NOTFOUND = 0, 1
ORDERED_KEYS, WRITEBACK_SYNC, NO_LOCK, READ_ONLY = 1 << 0, 1 << 1, 1 << 2, 1 << 16
SCAN_REVERSE, SCAN_STREAMING = 1 << 0, 1 << 1
USER_DATA_SIZE = 64


class SlotcacheError(Exception):
    """A libslotcache call failed: `code` is the SLC_E* status, `detail`
    the library's description of the check that failed."""
    code = None

    def __init__(self, code, detail, call):
        self.code, self.detail, self.call = code, detail, call
        super().__init__(f"{call}: {_strerror(code)}: {detail}" if detail
                         else f"{call}: {_strerror(code)}")


class CorruptError(SlotcacheError): code = -1            # SLC_ECORRUPT
class IncompatibleError(SlotcacheError): code = -2       # SLC_EINCOMPATIBLE
class InvalidatedError(SlotcacheError): code = -3        # SLC_EINVALIDATED
class BusyError(SlotcacheError): code = -4               # SLC_EBUSY
class FullError(SlotcacheError): code = -5               # SLC_EFULL
class ClosedError(SlotcacheError): code = -6             # SLC_ECLOSED
class WritebackError(SlotcacheError): code = -7          # SLC_EWRITEBACK
class InvalidError(SlotcacheError): code = -8            # SLC_EINVAL
class UnorderedError(SlotcacheError): code = -9          # SLC_EUNORDERED
class OutOfOrderError(SlotcacheError): code = -10        # SLC_EOUTOFORDER
class NoMemoryError(SlotcacheError): code = -11          # SLC_ENOMEM
class SystemCallError(SlotcacheError): code = -12        # SLC_ESYS


_ERRORS = {cls.code: cls for cls in SlotcacheError.__subclasses__()}


# ---- The C declarations ------------------------------------------------------

class _Options(ctypes.Structure):
    _fields_ = [("key_size", ctypes.c_uint32), ("index_size", ctypes.c_uint32),
                ("user_version", ctypes.c_uint64),
                ("slot_capacity", ctypes.c_uint64), ("flags", ctypes.c_uint32)]


class _Stat(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in
                ("key_size", "index_size", "slot_size", "flags")] + \
               [(n, ctypes.c_uint64) for n in
                ("slot_capacity", "slot_highwater", "live_count", "user_version",
                 "generation", "bucket_count", "bucket_used", "bucket_tombstones",
                 "file_size")]


class _Entry(ctypes.Structure):
    _fields_ = [("key", ctypes.POINTER(ctypes.c_uint8)), ("revision", ctypes.c_int64),
                ("index", ctypes.POINTER(ctypes.c_uint8)), ("slot_id", ctypes.c_uint64)]


_FILTER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_Entry), ctypes.c_void_p)
_VISIT = _FILTER


class _ScanOpts(ctypes.Structure):
    _fields_ = [("filter", _FILTER), ("filter_ctx", ctypes.c_void_p),
                ("flags", ctypes.c_uint32), ("offset", ctypes.c_uint64),
                ("limit", ctypes.c_uint64)]


class _Prefix(ctypes.Structure):
    _fields_ = [("offset", ctypes.c_uint32), ("bits", ctypes.c_uint32),
                ("bytes", ctypes.c_char_p), ("len", ctypes.c_size_t)]


class _IndexMatch(ctypes.Structure):
    _fields_ = [("offset", ctypes.c_uint32), ("len", ctypes.c_uint32),
                ("value", ctypes.c_char_p), ("mask", ctypes.c_char_p)]


def _load():
    path = os.environ.get("SLOTCACHE_LIBRARY")
    if not path:
        path = ctypes.util.find_library("slotcache") or "libslotcache.so.0"
    lib = ctypes.CDLL(path)
    vp, i, sz, u64p = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t, \
        ctypes.POINTER(ctypes.c_uint64)
    sigs = {
        "slc_version": (ctypes.c_char_p, []),
        "slc_strerror": (ctypes.c_char_p, [i]),
        "slc_errdetail": (ctypes.c_char_p, []),
        "slc_open": (i, [ctypes.c_char_p, ctypes.POINTER(_Options), ctypes.POINTER(vp)]),
        "slc_read_options": (i, [ctypes.c_char_p, ctypes.POINTER(_Options)]),
        "slc_close": (i, [vp]),
        "slc_invalidate": (i, [vp]),
        "slc_len": (i, [vp, u64p]),
        "slc_generation": (i, [vp, u64p]),
        "slc_user_header": (i, [vp, u64p, ctypes.c_char_p]),
        "slc_get": (i, [vp, ctypes.c_char_p, sz, ctypes.POINTER(ctypes.c_int64),
                        vp, sz]),
        "slc_get_many": (i, [vp, ctypes.c_char_p, sz, sz, ctypes.POINTER(i),
                             ctypes.POINTER(ctypes.c_int64), vp, sz]),
        "slc_stat_get": (i, [vp, ctypes.POINTER(_Stat)]),
        "slc_scan": (i, [vp, ctypes.POINTER(_ScanOpts), _VISIT, vp]),
        "slc_scan_prefix": (i, [vp, ctypes.POINTER(_Prefix), ctypes.POINTER(_ScanOpts),
                                _VISIT, vp]),
        "slc_scan_range": (i, [vp, ctypes.c_char_p, sz, ctypes.c_char_p, sz,
                               ctypes.POINTER(_ScanOpts), _VISIT, vp]),
        "slc_scan_match": (i, [vp, ctypes.POINTER(_IndexMatch),
                               ctypes.POINTER(_ScanOpts), _VISIT, vp]),
        "slc_begin_write": (i, [vp, ctypes.POINTER(vp)]),
        "slc_put": (i, [vp, ctypes.c_char_p, sz, ctypes.c_int64, ctypes.c_char_p, sz]),
        "slc_delete": (i, [vp, ctypes.c_char_p, sz, ctypes.POINTER(i)]),
        "slc_set_user_flags": (i, [vp, ctypes.c_uint64]),
        "slc_set_user_data": (i, [vp, ctypes.c_char_p]),
        "slc_commit": (i, [vp]),
        "slc_writer_close": (i, [vp]),
        "slc_verify": (i, [vp]),
    }
    for name, (res, args) in sigs.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    return lib


_lib = _load()


def _strerror(code):
    return _lib.slc_strerror(code).decode()


def _check(rc, call):
    """Raise the exception class of a failed status; return rc otherwise."""
    if rc < 0:
        detail = _lib.slc_errdetail().decode(errors="replace")
        raise _ERRORS.get(rc, SlotcacheError)(rc, detail, call)
    return rc


def library_version():
    """The version string of the loaded shared library."""
    return _lib.slc_version().decode()


def _bytes(b, what):
    if not isinstance(b, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what} must be bytes, not {type(b).__name__}")
    return bytes(b)


def read_options(path):
    """An existing file's configuration as a dict (slc_read_options)."""
    o = _Options()
    _check(_lib.slc_read_options(os.fsencode(path), ctypes.byref(o)), "slc_read_options")
    return {"key_size": o.key_size, "index_size": o.index_size,
            "user_version": o.user_version, "slot_capacity": o.slot_capacity,
            "ordered": bool(o.flags & ORDERED_KEYS)}


class Cache:
    """An open cache file (slc_cache). Use as a context manager, or call
    close(). Reads are safe from several threads."""

    def __init__(self, path, key_size, index_size=0, user_version=0,
                 slot_capacity=0, ordered=False, flags=0):
        o = _Options(key_size, index_size, user_version, slot_capacity,
                     flags | (ORDERED_KEYS if ordered else 0))
        h = ctypes.c_void_p()
        _check(_lib.slc_open(os.fsencode(path), ctypes.byref(o), ctypes.byref(h)),
               "slc_open")
        self._h = h
        self.path = path
        self.key_size, self.index_size = key_size, index_size
        # get's output buffers, reused per thread: ctypes releases the GIL
        # during the C call, so threads sharing a handle need their own.
        self._tls = threading.local()

    # -- lifetime --
    def close(self):
        if self._h:
            _check(_lib.slc_close(self._h), "slc_close")
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_h", None):
            _lib.slc_close(self._h)

    def _handle(self):
        if not self._h:
            raise ValueError("the cache is closed")
        return self._h

    # -- reads --
    def get(self, key):
        """(revision, index bytes) for a live key, None when absent."""
        try:
            rev, rev_ref, index = self._tls.out
        except AttributeError:
            rev = ctypes.c_int64()
            index = ctypes.create_string_buffer(max(self.index_size, 1))
            rev_ref = ctypes.byref(rev)
            self._tls.out = rev, rev_ref, index
        rc = _lib.slc_get(self._handle(), key, len(key), rev_ref, index,
                          self.index_size)
        if rc == OK:
            return rev.value, index.raw[:self.index_size]
        if rc == NOTFOUND:
            return None
        _check(rc, "slc_get")

    def get_many(self, keys):
        """[get(k) for k in keys] in one slc_get_many call."""
        keys = [_bytes(k, "key") for k in keys]
        n = len(keys)
        if n == 0:
            return []
        results = (ctypes.c_int * n)()
        revs = (ctypes.c_int64 * n)()
        isz = self.index_size
        index = ctypes.create_string_buffer(max(n * isz, 1))
        _check(_lib.slc_get_many(self._handle(), b"".join(keys), n, self.key_size,
                                 results, revs, index, isz), "slc_get_many")
        raw = index.raw
        return [(revs[i], raw[i * isz:(i + 1) * isz]) if results[i] == OK else None
                for i in range(n)]

    def __len__(self):
        v = ctypes.c_uint64()
        _check(_lib.slc_len(self._handle(), ctypes.byref(v)), "slc_len")
        return v.value

    def __contains__(self, key):
        return self.get(key) is not None

    @property
    def generation(self):
        v = ctypes.c_uint64()
        _check(_lib.slc_generation(self._handle(), ctypes.byref(v)), "slc_generation")
        return v.value

    def user_header(self):
        """(user_flags, 64 bytes of user_data) from one snapshot."""
        flags = ctypes.c_uint64()
        data = ctypes.create_string_buffer(USER_DATA_SIZE)
        _check(_lib.slc_user_header(self._handle(), ctypes.byref(flags), data),
               "slc_user_header")
        return flags.value, data.raw

    def stat(self):
        s = _Stat()
        _check(_lib.slc_stat_get(self._handle(), ctypes.byref(s)), "slc_stat_get")
        return {name: getattr(s, name) for name, _ in _Stat._fields_}

    # -- scans --
    # The C scans call back for each entry; the entries are copied into a
    # list during the call and handed out as an iterator, so a snapshot scan
    # is exactly what the library saw under one generation.
    def _scan(self, call, fn, args, reverse, streaming, offset, limit):
        out = []
        ks, isz = self.key_size, self.index_size

        def visit(e, _ctx):
            e = e.contents
            out.append((ctypes.string_at(e.key, ks), e.revision,
                        ctypes.string_at(e.index, isz) if isz else b""))
            return 0

        cb = _VISIT(visit)
        o = _ScanOpts(_FILTER(), None, (SCAN_REVERSE if reverse else 0) |
                      (SCAN_STREAMING if streaming else 0), offset, limit)
        _check(fn(self._handle(), *args, ctypes.byref(o), cb, None), call)
        return iter(out)

    def scan(self, reverse=False, streaming=False, offset=0, limit=0):
        """Every live entry as (key, revision, index), in slot order."""
        return self._scan("slc_scan", _lib.slc_scan, [], reverse, streaming,
                          offset, limit)

    def scan_prefix(self, prefix, key_offset=0, bits=0, reverse=False,
                    streaming=False, offset=0, limit=0):
        """Entries whose key holds `prefix` at byte `key_offset`; with `bits`,
        only that many leading bits of `prefix` are compared."""
        prefix = _bytes(prefix, "prefix")
        p = _Prefix(key_offset, bits, prefix, len(prefix))
        return self._scan("slc_scan_prefix", _lib.slc_scan_prefix, [ctypes.byref(p)],
                          reverse, streaming, offset, limit)

    def scan_range(self, start=None, end=None, reverse=False, streaming=False,
                   offset=0, limit=0):
        """Ordered files: entries with start <= key < end, in key order
        (None is unbounded)."""
        s = None if start is None else _bytes(start, "start")
        e = None if end is None else _bytes(end, "end")
        return self._scan("slc_scan_range", _lib.slc_scan_range,
                          [s, len(s or b""), e, len(e or b"")],
                          reverse, streaming, offset, limit)

    def scan_match(self, value, index_offset=0, mask=None, reverse=False,
                   streaming=False, offset=0, limit=0):
        """Entries whose index bytes at `index_offset` equal `value` (under
        `mask` when given)."""
        value = _bytes(value, "value")
        if mask is not None and len(_bytes(mask, "mask")) != len(value):
            raise ValueError("mask and value differ in length")
        m = _IndexMatch(index_offset, len(value), value,
                        None if mask is None else bytes(mask))
        return self._scan("slc_scan_match", _lib.slc_scan_match, [ctypes.byref(m)],
                          reverse, streaming, offset, limit)

    def __iter__(self):
        return self.scan()

    # -- writing and maintenance --
    def writer(self):
        """A write session (slc_begin_write). As a context manager it
        commits when the block ends normally and discards on an exception."""
        w = ctypes.c_void_p()
        _check(_lib.slc_begin_write(self._handle(), ctypes.byref(w)), "slc_begin_write")
        return Writer(self, w)

    def invalidate(self):
        _check(_lib.slc_invalidate(self._handle()), "slc_invalidate")

    def verify(self):
        """Full structural check; raises CorruptError with the detail."""
        _check(_lib.slc_verify(self._handle()), "slc_verify")


class Writer:
    """One write session. Staged operations become visible at commit()."""

    def __init__(self, cache, handle):
        self._cache, self._w = cache, handle

    def _handle(self):
        if not self._w:
            raise ValueError("the writer is closed")
        return self._w

    def put(self, key, revision, index=b""):
        _check(_lib.slc_put(self._handle(), key, len(key), revision, index,
                            len(index)), "slc_put")

    def delete(self, key):
        """Stage a delete; True when the key was live in the writer's view."""
        existed = ctypes.c_int()
        _check(_lib.slc_delete(self._handle(), key, len(key), ctypes.byref(existed)),
               "slc_delete")
        return bool(existed.value)

    def set_user_flags(self, flags):
        _check(_lib.slc_set_user_flags(self._handle(), flags), "slc_set_user_flags")

    def set_user_data(self, data):
        data = _bytes(data, "user data")
        if len(data) != USER_DATA_SIZE:
            raise ValueError(f"user data is {USER_DATA_SIZE} bytes")
        _check(_lib.slc_set_user_data(self._handle(), data), "slc_set_user_data")

    def commit(self):
        """Publish; the session is over afterwards (only close remains)."""
        self._committed = True
        _check(_lib.slc_commit(self._handle()), "slc_commit")

    def close(self):
        """Discard what was not committed and release the lock."""
        if self._w:
            _lib.slc_writer_close(self._w)
            self._w = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        try:
            if exc_type is None and not getattr(self, "_committed", False):
                self.commit()
        finally:
            self.close()

    def __del__(self):
        if getattr(self, "_w", None):
            _lib.slc_writer_close(self._w)


def open(path, key_size, index_size=0, user_version=0, slot_capacity=0,
         ordered=False, writeback_sync=False, no_lock=False, read_only=False):
    """Open (or create, when slot_capacity >= 1) the cache at `path`."""
    flags = (WRITEBACK_SYNC if writeback_sync else 0) | \
        (NO_LOCK if no_lock else 0) | (READ_ONLY if read_only else 0)
    return Cache(path, key_size, index_size, user_version, slot_capacity,
                 ordered, flags)
