"""The server's RabbitMQ-like queue and its pool of job-handlers (prefetch, ack, redelivery)."""

from __future__ import annotations

from collections import deque

from .base import IP, KO, OK, Act, Ev, Kernel, Q, exp_dist

__all__ = ["ServerMixin"]


class ServerMixin(Kernel):
    """Queue dispatch round-robin, sequential handlers, crashes that redeliver unacked work."""

    # ------------------------------------------------------------------ server: queue and handlers
    def _build_server(self) -> None:
        sc, st = self.sc, self.streams
        n = sc.server.job_handlers
        self.prefetch = sc.server.prefetch
        self.queue: deque[Act] = deque()
        self.h_up = [True] * n
        self.h_buf: list[deque[Act]] = [deque() for _ in range(n)]
        self.h_cur: list[Act | None] = [None] * n
        self.h_gen = [0] * n
        self.h_t0 = [0.0] * n
        self.h_dur = [0.0] * n
        self._rr = 0
        jc = sc.faults.job_handler_crash
        self._crash_gap = (
            st.sampler("server/crash", exp_dist(jc.mtbf)) if jc.mtbf is not None else None
        )
        self._crash_restart = st.sampler("server/crash-restart", jc.restart_delay)
        self.progress_interval = sc.server.progress_interval

    def _dispatch(self, t: float) -> None:
        n = len(self.h_up)
        if n == 0:
            return
        q = self.queue
        pf = self.prefetch
        while q:
            for k in range(n):
                h = (self._rr + k) % n
                if self.h_up[h] and len(self.h_buf[h]) + (self.h_cur[h] is not None) < pf:
                    self.h_buf[h].append(q.popleft())
                    self._rr = h + 1
                    break
            else:
                break
        for h in range(n):
            if self.h_up[h] and self.h_cur[h] is None and self.h_buf[h]:
                self._start_next(h, t)

    def _start_next(self, h: int, t: float) -> None:
        buf = self.h_buf[h]
        hid = f"h{h + 1}"
        while buf:
            a = buf.popleft()
            if a.state not in (Q, IP):  # canceled (or finished) while queued: drop it
                self.c["dropped_messages"] += 1
                self.c["acks"] += 1
                self.emit({"t": t, "event": "ack", "activity": a.id, "handler": hid})
                continue
            a.attempts += 1
            self.c["consumes"] += 1
            self.emit(
                {
                    "t": t,
                    "event": "consume",
                    "activity": a.id,
                    "handler": hid,
                    "attempt": a.attempts,
                }
            )
            if a.state == Q:
                self._move(a, IP, t, "consumed by job-handler")
            else:
                # Redelivery after a crash: the activity is already In Progress. The handler
                # runs the work again from the start; no transition (a self-loop is illegal).
                self.c["redeliveries"] += 1
            d = a.dur()
            self.h_cur[h] = a
            self.h_t0[h] = t
            self.h_dur[h] = d
            gen = self.h_gen[h]
            self._at(t + d, self._on_server_done, (h, gen))
            if a.atype.reports_progress and self.progress_interval < d:
                self._at(t + self.progress_interval, self._on_server_tick, (h, gen))
            return

    def _on_server_tick(self, ev: Ev) -> None:
        h, gen = ev._value
        if self.h_gen[h] != gen:
            return
        a = self.h_cur[h]
        t = self.env._now
        if a is None or a.state != IP:
            return
        v = (t - self.h_t0[h]) / self.h_dur[h]
        self._progress(a, min(v, 1.0), t)
        if t + self.progress_interval < self.h_t0[h] + self.h_dur[h]:
            self._at(t + self.progress_interval, self._on_server_tick, (h, gen))

    def _on_server_done(self, ev: Ev) -> None:
        h, gen = ev._value
        if self.h_gen[h] != gen:
            return
        t = self.env._now
        a = self.h_cur[h]
        self.h_cur[h] = None
        if a.state == IP:
            ok = not (a.failp and self._u_sfail() < a.failp)
            if ok and a.atype.reports_progress:
                self._progress(a, 1.0, t)
            self._move(a, OK if ok else KO, t, "job-handler finished")
            self._final(a, t, ok)
        self.c["acks"] += 1
        self.emit({"t": t, "event": "ack", "activity": a.id, "handler": f"h{h + 1}"})
        self._start_next(h, t)
        self._dispatch(t)

    def _on_crash(self, ev: Ev) -> None:
        h = ev._value
        t = self.env._now
        self.c["handler_crashes"] += 1
        self.emit({"t": t, "event": "fault", "handler": f"h{h + 1}", "fault": "handler_crash"})
        back = ([self.h_cur[h]] if self.h_cur[h] is not None else []) + list(self.h_buf[h])
        # Unacknowledged messages go back to the head of the queue, in their order.
        self.queue.extendleft(reversed(back))
        self.h_buf[h].clear()
        self.h_cur[h] = None
        self.h_up[h] = False
        self.h_gen[h] += 1
        self._at(t + self._crash_restart(), self._on_handler_restart, h)
        self._dispatch(t)

    def _on_handler_restart(self, ev: Ev) -> None:
        h = ev._value
        t = self.env._now
        self.h_up[h] = True
        self.emit({"t": t, "event": "fault", "handler": f"h{h + 1}", "fault": "handler_restart"})
        nxt = t + self._crash_gap()
        if nxt < self.t_stop:
            self._at(nxt, self._on_crash, h)
        self._dispatch(t)
