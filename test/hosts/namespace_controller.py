#!/usr/bin/env python3
"""The course's sample controller, as it runs in the Docker layout (SPEC section 4).

It runs in the Controller host (a container there, a network namespace in the test), binds
("Controller", 5555) as the course's sample does, and finds every node by its container
name on port 5555:

    LEADER_INFO -> STORE through a follower (it redirects with LEADER_INFO) -> STORE to the
    leader it names -> CONVERT_FOLLOWER to all -> a leader again -> STORE -> RETRIEVE

Prints one JSON line with what it saw; exit status 0 when every check passed, 1 otherwise.
Standard library only.
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "controller"))
from course_controller import Controller as CourseController  # noqa: E402

PORT = 5555
NODES = ["Node1", "Node2", "Node3", "Node4", "Node5"]
RETRIEVE_BUFFER = 65535   # SPEC 4: a RETRIEVE reply may hold up to 60,000 bytes
ELECTION_DEADLINE = 20.0


class CheckFailed(Exception):
    pass


def check(condition, what):
    if not condition:
        raise CheckFailed(what)


class Controller(CourseController):
    """The course controller's messaging (test/controller/course_controller.py), bound and addressed as in Docker."""

    def __init__(self):
        nodes = {name: (socket.gethostbyname(name), PORT) for name in NODES}
        super().__init__(nodes, bind=("Controller", PORT))  # the course's sample controller binds exactly this

    def wait_for_leader(self):
        deadline = time.time() + ELECTION_DEADLINE
        while time.time() < deadline:
            for node in NODES:
                reply = self.ask(node, self.message("LEADER_INFO"), timeout=0.5)
                leader = reply and reply.get("value")
                if leader in NODES:
                    own = self.ask(leader, self.message("LEADER_INFO"), timeout=0.5)
                    if own and own.get("value") == leader:
                        return leader, own["term"]
            time.sleep(0.1)
        raise CheckFailed("no leader within %ss" % ELECTION_DEADLINE)

    def retrieve(self, leader):
        entries, start = [], None
        while True:
            value = None if start is None else {"from": start}
            reply = self.ask(leader, self.message("RETRIEVE", value=value), bufsize=RETRIEVE_BUFFER)
            check(reply is not None and reply.get("key") == "COMMITED_LOGS", "RETRIEVE reply: %r" % reply)
            entries.extend(reply["value"])
            if "next" not in reply:
                return entries
            start = reply["next"]

    def store_acked(self, leader, key, value):
        ack = self.ask(leader, self.message("STORE", key, value, ack=True), timeout=6.0)
        check(ack is not None and ack.get("request") == "STORE" and "error" not in ack, "STORE ack from %s: %r" % (leader, ack))
        return ack


def run():
    c = Controller()
    stamp = str(int(time.time() * 1000))[-7:]
    k1, k2 = "netns-%s-1" % stamp, "netns-%s-2" % stamp

    leader, term = c.wait_for_leader()
    follower = next(n for n in NODES if n != leader)

    # STORE through a follower: it answers with the LEADER_INFO redirect, naming the leader.
    redirect = c.ask(follower, c.message("STORE", k1, "v1"))
    check(redirect is not None and redirect.get("request") == "LEADER_INFO" and redirect.get("value") == leader, "STORE to follower %s: %r" % (follower, redirect))
    first = c.store_acked(redirect["value"], k1, "v1")

    # CONVERT_FOLLOWER to all: the leader steps down too, and the cluster elects again.
    for node in NODES:
        c.send(node, c.message("CONVERT_FOLLOWER"))
    time.sleep(0.2)
    leader2, term2 = c.wait_for_leader()
    second = c.store_acked(leader2, k2, {"n": 2})

    ours = [e for e in c.retrieve(leader2) if e.get("Key") in (k1, k2)]
    expected = [{"Term": first["term"], "Key": k1, "Value": "v1"}, {"Term": second["term"], "Key": k2, "Value": {"n": 2}}]
    check(ours == expected, "RETRIEVE returned %r, expected %r" % (ours, expected))
    print(json.dumps({"ok": True, "leader": leader, "term": term, "follower": follower, "leaderAfter": leader2, "termAfter": term2, "keys": [k1, k2], "indexes": [first["index"], second["index"]]}))


def main():
    try:
        run()
    except CheckFailed as failure:
        print(json.dumps({"ok": False, "failure": str(failure)}))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
