"""A raw Streamlit websocket client: what an attacker scripts instead of a browser.

It speaks the app's own protocol (``BackMsg`` / ``ForwardMsg`` protobufs over
``/_stcore/stream``) with nothing a browser would add unless told to: no
cookie, any subprotocol entries (``["streamlit", xsrf, session_id]`` — the
third resumes a session by its ID), any message (``clear_cache``, widget
states for a form it never saw rendered).

    with WireClient(url) as client:
        page = client.run()                       # the first run of a new session
        form = page.widget("login_username")      # an element ID by widget key
        page = client.run({form: "alice", ...})   # submit widget values

Each ``run`` returns a :class:`Render`: every string of every element the run
drew (labels, Markdown bodies, alert texts), and the element IDs by widget key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.json_format import MessageToDict
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.sync.client import ClientConnection, connect

RUN_TIMEOUT = 60.0  # a guard for a hung server, not a measurement
QUIET_SECONDS = 0.5  # after a run: a run the app starts on its own (no st.rerun) comes within this


@dataclass
class Render:
    """What one or more script runs drew, as text."""

    texts: list[str] = field(default_factory=list)
    widgets: dict[str, str] = field(default_factory=dict)  # widget key -> element id

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    def widget(self, key: str) -> str:
        """The element ID of the widget with user key ``key`` (Streamlit appends it)."""
        try:
            return self.widgets[key]
        except KeyError:
            raise AssertionError(
                f"no widget {key!r} in this render: {sorted(self.widgets)}"
            ) from None


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


class WireClient:
    """One websocket connection to a Streamlit server, driven message by message."""

    def __init__(
        self,
        base_url: str,
        *,
        resume_session: str | None = None,
        cookies: Mapping[str, str] | None = None,
        page_script_hash: str = "",
        query_string: str = "",
    ) -> None:
        self.url = base_url.replace("http://", "ws://", 1).rstrip("/") + "/_stcore/stream"
        # The browser sends ["streamlit", xsrf token, session id]; the token is only
        # checked for Streamlit's own st.login cookie, so any value goes.
        self.subprotocols = ["streamlit", "x"] + ([resume_session] if resume_session else [])
        self.cookies = dict(cookies or {})
        self.page_script_hash = page_script_hash
        self.query_string = query_string
        self.session_id: str | None = None
        self._ws: ClientConnection | None = None

    def connect(self) -> WireClient:
        """Open the websocket (once; ``with`` does it too)."""
        if self._ws is not None:
            return self
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self._ws = connect(
            self.url,
            subprotocols=self.subprotocols,  # type: ignore[arg-type]
            additional_headers=headers,
            max_size=None,
            open_timeout=RUN_TIMEOUT,
        ).__enter__()
        return self

    def __enter__(self) -> WireClient:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                self._ws.close()
            self._ws = None

    def send(self, message: BackMsg) -> None:
        assert self._ws is not None, "not connected"
        self._ws.send(message.SerializeToString())

    def clear_cache(self) -> None:
        """What Streamlit's "Clear cache" menu item sends: empties st.cache_* process-wide."""
        self.send(BackMsg(clear_cache=True))

    def run(
        self,
        widgets: Mapping[str, Any] | None = None,
        *,
        trigger: str | None = None,
        page: str | None = None,
    ) -> Render:
        """Rerun the script with these widget values (and ``trigger`` clicked); what it drew.

        Strings go as ``string_value``; ``trigger`` is a button's (or form submit
        button's) element ID, sent as ``trigger_value``. Waits for the run to
        finish and for any run the app starts itself right after. ``page`` is a
        page's URL path (``"summary"``), as the browser sends on navigation.
        """
        message = BackMsg()
        state = message.rerun_script
        state.query_string = self.query_string
        state.page_script_hash = self.page_script_hash
        if page is not None:
            state.page_name = page
        for element_id, value in (widgets or {}).items():
            widget = state.widget_states.widgets.add()
            widget.id = element_id
            if isinstance(value, bool):
                widget.bool_value = value
            else:
                widget.string_value = str(value)
        if trigger is not None:
            widget = state.widget_states.widgets.add()
            widget.id = trigger
            widget.trigger_value = True
        self.send(message)
        return self.collect()

    def collect(self) -> Render:
        """Forward messages until a run has finished and the server is quiet."""
        assert self._ws is not None, "not connected"
        render = Render()
        finished = False
        rerun_coming = False
        while True:
            try:
                data = self._ws.recv(timeout=QUIET_SECONDS if finished else RUN_TIMEOUT)
            except TimeoutError:
                if finished:
                    return render
                raise
            if isinstance(data, str):
                continue
            message = ForwardMsg()
            message.ParseFromString(data)
            kind = message.WhichOneof("type")
            if kind == "new_session":
                rerun_coming = False  # it has started
                self.session_id = message.new_session.initialize.session_id or self.session_id
            elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                element = MessageToDict(message.delta.new_element)
                render.texts.extend(_strings(element))
                for body in element.values():
                    if isinstance(body, Mapping) and isinstance(body.get("id"), str):
                        element_id = body["id"]
                        render.widgets[element_id.rsplit("-", 1)[-1]] = element_id
            elif kind == "script_finished":
                # Stopped for a rerun (st.rerun, or a request that replaced it): the next
                # run is certain, so wait for it to finish however slow its start (a cold
                # import on a loaded machine can take longer than QUIET_SECONDS).
                rerun_coming = message.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN
                finished = not rerun_coming
            elif (
                kind == "session_status_changed"
                and not rerun_coming
                and not message.session_status_changed.script_is_running
            ):
                finished = True
