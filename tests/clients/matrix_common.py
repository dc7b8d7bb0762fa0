"""What both client matrix drivers share (tests/clients/matrix.py runs them; the contract is
tests/clients/DRIVERS.md): Failure, the one JSON answer and the watchdog, the deterministic
records and their sha256, and the scenario logic that does not depend on the client library:
the consume read loop, the two transactions and the transactions read-back."""

import hashlib
import os
import sys
import threading
import time

import common


class Failure(Exception):
    """A failure whose message is the whole error text (no exception class name)."""


# --- output, exactly once ------------------------------------------------------------------

_emit_lock = threading.Lock()
_emitted = False
_stage = ["starting"]


def stage(what):
    """Names what the driver is doing, for the watchdog's error."""
    _stage[0] = what
    common.log(f"-- {what}")


_last_client_error = [None]


def note_client_error(text, echo=True):
    """Remembers the client's latest error report: a timeout then says what went wrong."""
    _last_client_error[0] = text
    if echo:
        common.log(f"client error: {text}")


def with_last_error(text):
    last = _last_client_error[0]
    return f"{text} (last client error: {last})" if last else text


def wait(future, what, seconds, client=None):
    """future.result() with an error that says what did not answer. With a confluent client,
    polls it meanwhile so its error_cb runs."""
    end = time.monotonic() + max(0.1, seconds)
    while client is not None and not future.done() and time.monotonic() < end:
        client.poll(0.1)
    try:
        return future.result(timeout=max(0.01, end - time.monotonic()))
    except TimeoutError:  # concurrent.futures.TimeoutError is TimeoutError since Python 3.11
        raise Failure(with_last_error(f"{what}: no answer before the deadline")) from None
    except Exception as e:
        import concurrent.futures

        if isinstance(e, concurrent.futures.TimeoutError):
            raise Failure(with_last_error(f"{what}: no answer before the deadline")) from None
        raise


def finish(obj, code):
    """Prints obj as the last stdout line and ends the process (os._exit: no client
    destructor may keep it alive after the answer)."""
    global _emitted
    with _emit_lock:
        if not _emitted:
            _emitted = True
            common.emit(obj)
        sys.stderr.flush()
        os._exit(code)


def start_watchdog(seconds):
    def fire():
        finish({"error": with_last_error(f"deadline of {seconds:g}s exceeded while {_stage[0]}")}, 1)

    t = threading.Timer(max(0.1, seconds - 0.4), fire)
    t.daemon = True
    t.start()


# --- deterministic records -----------------------------------------------------------------


def value(i, size):
    return ("v%08d" % i).ljust(size, ".").encode()


def key(i):
    return ("k%08d" % i).encode()


def index_of_value(v):
    return int(v[1:9])


def sha256(values):
    h = hashlib.sha256()
    for v in sorted(values):
        h.update(v)
        h.update(b"\n")
    return h.hexdigest()


def duplicates(values):
    return len(values) - len(set(values))


def error_list(errors):
    """Distinct delivery error messages, sorted, at most 10."""
    return sorted(set(errors))[:10]


# --- scenario logic both clients share -----------------------------------------------------


def produce_result(count, acked, errors):
    """The produce answer: acked holds the values of the acknowledged records."""
    return {
        "sent": count,
        "acked": len(acked),
        "sha256": sha256(acked),
        "errors": error_list(errors),
    }


def read_reserve(timeout):
    """Seconds kept after the read phase of consume for the commit, close and offset read-back."""
    return max(1.5, min(8.0, timeout * 0.15))


def read_until_done(poll, count, deadline, timeout):
    """The consume read loop: calls poll(seconds), which returns (partition, offset, value) for
    each record it got, until count records have arrived and then 1 s more (extra records are
    duplicates), or until the read phase ends, read_reserve(timeout) before the deadline.
    Returns the values in arrival order and {partition: highest offset read}."""
    values, last = [], {}
    stop_at = deadline.end - read_reserve(timeout)
    done_at = None
    while True:
        now = time.monotonic()
        if now >= stop_at or (done_at is not None and now >= done_at):
            break
        end = stop_at if done_at is None else min(stop_at, done_at)
        for partition, offset, v in poll(max(0.01, min(0.5, end - now))):
            values.append(v)
            last[partition] = max(last.get(partition, -1), offset)
        if done_at is None and len(values) >= count:
            done_at = time.monotonic() + 1.0
    return values, last


def consume_result(values, committed):
    """The consume answer: values as read (with duplicates), committed as read back."""
    return {
        "count": len(values),
        "sha256": sha256(set(values)),
        "duplicates": duplicates(values),
        "committed": committed,
    }


def two_transactions(k, begin, produce_range, end):
    """The transactions scenario's writes: records 0..k in a transaction that commits, then
    k..2k in one that aborts. produce_range(lo, hi) sends records lo..hi and waits for their
    delivery; end(commit) commits or aborts."""
    for lo, hi, commit in ((0, k, True), (k, 2 * k, False)):
        stage(f"producing records {lo}..{hi} in a transaction")
        begin()
        produce_range(lo, hi)
        stage("committing the transaction" if commit else "aborting the transaction")
        end(commit)


def transactions_read_back(k, read_all):
    """The transactions answer: read_all(isolation) returns the values of every partition
    from the beginning to its end (the LSO for read_committed)."""
    committed = read_all("read_committed")
    uncommitted = read_all("read_uncommitted")
    return {
        "committed": k,
        "committed_seen": sum(1 for v in committed if index_of_value(v) < k),
        "aborted_seen": sum(1 for v in committed if index_of_value(v) >= k),
        "sha256": sha256(committed),
        "uncommitted_seen": len(uncommitted),
    }
