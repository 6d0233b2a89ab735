"""A DDS system of realistic size on Cyclone DDS (Python cyclonedds 11), for the scale tests.

    scale.py domain --participants P --endpoints E [--chatter writer|readers|none]
                    [--chatter-delay S] [--chatter-on last|new]
                    [--count N] [--timeout S] [--hold S] [--first-index I]
                    [--delete-after S] [--decoy] [--decoy-delete S] [--write-after S]

Creates P DomainParticipants in this process (domain $DOMAIN), each with E unrelated endpoints
(alternately writers and readers, each on a topic `unrelated_<p>_<j>` of type
`scale::msg::Unrelated`), and then:

- `--chatter writer`: ONE reliable std_msgs/String writer on rt/chatter, on the last
  participant (`--chatter-on last`) or on a participant of its own created for it
  (`--chatter-on new`), `--chatter-delay` seconds after READY. Once it has a matched reader
  it writes N strings "hello 0".."hello N-1", waits for their acknowledgements and lingers
  2 s. Exit 0 on success, 1 on timeout.
- `--chatter readers`: a reliable std_msgs/String reader on rt/chatter on EVERY participant.
  It takes samples until every reader has N of them (then listens 0.5 s more), or the timeout,
  or its standard input is closed, then prints `RESULT {json}` with each reader's samples
  and exits (0 if every reader got "hello 0" .. "hello N-1" exactly once, in order).
- `--chatter none`: nothing more.

For the tests of a full table's recovery:

- `--delete-after S`: S seconds after READY, the first half of every participant's unrelated
  endpoints (`j < E/2`) are deleted, and `DELETED {json}` lists their GUIDs.
- `--decoy`: before READY, a reliable rt/chatter writer on the first participant that never
  writes (printed as `DECOY {json}`, and in ENTITIES); `--decoy-delete S` deletes it S seconds
  after READY (printed as `DECOY-DELETED`).
- `--write-after S`: the chatter writer writes no earlier than S seconds after READY.

Once every entity but a delayed chatter writer exists it prints `ENTITIES {json}` (every
participant's GUID prefix and every endpoint's GUID, topic and kind, in Pollen's
`prefix:entity` hex notation) and then `READY`; the chatter writer, when created, is printed as
`CHATTER {json}` (its GUID and participant). With --hold it then stays for that many seconds
(writer and none modes), so that a listener sees the domain. It always exits by itself within
--timeout seconds, and earlier when its standard input is closed.

Run it only where Cyclone cannot reach a real network: the tests run it inside a network
namespace whose only interface is `lo`, with Cyclone's default configuration.
"""

import argparse
import json
import os
import select
import sys
import time
from dataclasses import dataclass

from cyclonedds.core import Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.idl import IdlStruct
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration


@dataclass
class String_(IdlStruct, typename="std_msgs::msg::dds_::String_"):
    data: str


@dataclass
class Unrelated(IdlStruct, typename="scale::msg::Unrelated"):
    id: int
    text: str


def stdin_closed():
    """Whether standard input reached its end: the test's way to stop us early."""
    try:
        readable, _, _ = select.select([sys.stdin], [], [], 0)
        return bool(readable) and sys.stdin.readline() == ""
    except (OSError, ValueError):
        return False


def guid(entity):
    h = entity.guid.hex
    return f"{h[:24]}:{h[24:]}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["domain"])
    ap.add_argument("--participants", type=int, required=True)
    ap.add_argument("--endpoints", type=int, required=True, help="unrelated endpoints per participant")
    ap.add_argument("--chatter", choices=["writer", "readers", "none"], default="none")
    ap.add_argument("--chatter-delay", type=float, default=0, help="seconds after READY")
    ap.add_argument("--chatter-on", choices=["last", "new"], default="last")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=40)
    ap.add_argument("--hold", type=float, default=0)
    ap.add_argument("--first-index", type=int, default=0, help="first participant number in topic names")
    ap.add_argument("--delete-after", type=float, default=None, help="seconds after READY")
    ap.add_argument("--decoy", action="store_true")
    ap.add_argument("--decoy-delete", type=float, default=None, help="seconds after READY")
    ap.add_argument("--write-after", type=float, default=0, help="seconds after READY")
    a = ap.parse_args()
    start = time.monotonic()
    end = start + a.timeout
    dom = int(os.environ.get("DOMAIN", "0"))

    reliable = Qos(
        Policy.Reliability.Reliable(duration(seconds=1)),
        Policy.Durability.Volatile,
        Policy.History.KeepAll,
    )
    keep = []  # every entity, so that none is garbage-collected (deleted) early
    entities = {"participants": [], "endpoints": []}
    participants = []
    # Unrelated endpoints per participant, to delete with --delete-after.
    unrelated = []
    for p in range(a.participants):
        dp = DomainParticipant(dom)
        participants.append(dp)
        keep.append(dp)
        entities["participants"].append(guid(dp)[:24])
        n = a.first_index + p
        unrelated.append([])
        for j in range(a.endpoints):
            topic = Topic(dp, f"unrelated_{n}_{j}", Unrelated)
            if j % 2 == 0:
                e = DataWriter(dp, topic)
                kind = "writer"
            else:
                e = DataReader(dp, topic)
                kind = "reader"
            keep += [topic, e]
            unrelated[-1].append(e)
            entities["endpoints"].append({"guid": guid(e), "topic": f"unrelated_{n}_{j}", "kind": kind})

    readers = []
    if a.chatter == "readers":
        for dp in participants:
            topic = Topic(dp, "rt/chatter", String_, qos=reliable)
            r = DataReader(dp, topic, qos=reliable)
            keep += [topic, r]
            readers.append(r)
            entities["endpoints"].append({"guid": guid(r), "topic": "rt/chatter", "kind": "reader"})

    def chatter_writer():
        if a.chatter_on == "new":
            dp = DomainParticipant(dom)
            keep.append(dp)
        else:
            dp = participants[-1]
        topic = Topic(dp, "rt/chatter", String_, qos=reliable)
        w = DataWriter(dp, topic, qos=reliable)
        keep.extend([topic, w])
        print("CHATTER " + json.dumps({"guid": guid(w), "participant": guid(dp)[:24]}), flush=True)
        return w, {"guid": guid(w), "topic": "rt/chatter", "kind": "writer"}

    decoy = None
    if a.decoy:
        topic = Topic(participants[0], "rt/chatter", String_, qos=reliable)
        decoy = DataWriter(participants[0], topic, qos=reliable)
        keep.append(topic)
        entities["endpoints"].append({"guid": guid(decoy), "topic": "rt/chatter", "kind": "writer"})
        print("DECOY " + json.dumps({"guid": guid(decoy), "participant": guid(participants[0])[:24]}), flush=True)

    # Deletions due at a time after READY, run by pause() whatever the script is waiting for.
    scheduled = []

    def delete_half():
        gone = []
        for es in unrelated:
            for e in es[: len(es) // 2]:
                gone.append(guid(e))
                keep.remove(e)
                e.__del__()
        print("DELETED " + json.dumps(gone), flush=True)

    def delete_decoy():
        nonlocal decoy
        decoy.__del__()
        decoy = None
        print("DECOY-DELETED", flush=True)

    def pause(s):
        now = time.monotonic()
        for item in [x for x in scheduled if x[0] <= now]:
            scheduled.remove(item)
            item[1]()
        time.sleep(s)

    writer = None
    if a.chatter == "writer" and a.chatter_delay <= 0:
        writer, e = chatter_writer()
        entities["endpoints"].append(e)
        if a.chatter_on == "new":
            entities["participants"].append(e["guid"][:24])

    print("ENTITIES " + json.dumps(entities), flush=True)
    print(f"READY after {time.monotonic() - start:.2f} s", flush=True)
    ready_at = time.monotonic()
    if a.delete_after is not None:
        scheduled.append((ready_at + a.delete_after, delete_half))
    if decoy is not None and a.decoy_delete is not None:
        scheduled.append((ready_at + a.decoy_delete, delete_decoy))

    if a.chatter == "writer" and writer is None:
        delay_end = min(end, time.monotonic() + a.chatter_delay)
        while time.monotonic() < delay_end:
            if stdin_closed():
                return 1
            pause(0.05)
        writer, _ = chatter_writer()

    if writer is not None:
        while writer.get_publication_matched_status().current_count < 1:
            if time.monotonic() > end or stdin_closed():
                print("no reader matched rt/chatter", file=sys.stderr)
                return 1
            pause(0.05)
        print(f"MATCHED after {time.monotonic() - start:.2f} s", flush=True)
        # Give the reader's side a moment to match our writer too (its SEDP data may still be
        # on its way: it has hundreds of endpoints to learn).
        settle_end = max(time.monotonic() + 1.0, ready_at + a.write_after)
        while time.monotonic() < settle_end:
            if time.monotonic() > end or stdin_closed():
                return 1
            pause(0.05)
        print(f"WRITING after {time.monotonic() - start:.2f} s", flush=True)
        for i in range(a.count):
            writer.write(String_(data=f"hello {i}"))
        while not writer.wait_for_acks(duration(milliseconds=200)):
            pause(0)
            if time.monotonic() > end or stdin_closed():
                print("not all samples acknowledged", file=sys.stderr)
                return 1
        print(f"ACKED after {time.monotonic() - start:.2f} s", flush=True)
        linger_end = min(end, time.monotonic() + 2.0)
        while time.monotonic() < linger_end and not stdin_closed():
            pause(0.05)

    if readers:
        got = [[] for _ in readers]
        complete_at = None
        while time.monotonic() < end and not stdin_closed():
            for r, g in zip(readers, got):
                for s in r.take(N=100):
                    if isinstance(s, String_):
                        g.append(s.data)
            if complete_at is None and all(len(g) >= a.count for g in got):
                complete_at = time.monotonic()
            # Once complete, listen a little longer for samples that should not come.
            if complete_at is not None and time.monotonic() > complete_at + 0.5:
                break
            time.sleep(0.02)
        expected = [f"hello {i}" for i in range(a.count)]
        ok = all(g == expected for g in got)
        counts = [len(g) for g in got]
        print("RESULT " + json.dumps({"counts": counts, "samples": got, "ok": ok}), flush=True)
        return 0 if ok else 1

    hold_end = min(end, time.monotonic() + a.hold)
    while time.monotonic() < hold_end and not stdin_closed():
        pause(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main())
