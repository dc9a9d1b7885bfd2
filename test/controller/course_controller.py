#!/usr/bin/env python3
"""A course-style controller for the CSE 486/586 Raft project, standard library only.

It knows nothing about raftquotes beyond SPEC section 4 (the UDP controller protocol) and
replays the grading sequence against `raftquotes cluster` (nodes on 127.0.0.1:5555..5559):

    LEADER_INFO -> STORE -> SHUTDOWN the leader -> STORE (to the new leader)
    -> CONVERT_FOLLOWER the old leader -> STORE -> RETRIEVE

Replies are read the way course graders read them, with recvfrom(1024), except RETRIEVE,
which SPEC section 4 allows up to 60,000 bytes per datagram (paged with "next").
Exit status: 0 when every check passed, 1 on the first failed check, 2 on bad arguments.

Usage: python3 course_controller.py [--host 127.0.0.1] [--base-port 5555] [--nodes 5]
"""
import json
import socket
import sys
import time

BUFFER = 1024            # what course graders pass to recvfrom
RETRIEVE_BUFFER = 65535  # SPEC 4: a RETRIEVE reply may hold up to 60,000 bytes
REPLY_TIMEOUT = 2.0      # seconds to wait for one reply
ELECTION_DEADLINE = 15.0 # seconds to wait for a (new) leader


class CheckFailed(Exception):
    pass


def check(condition, what):
    if not condition:
        raise CheckFailed(what)


def parse_args(argv):
    options = {"--host": "127.0.0.1", "--base-port": "5555", "--nodes": "5"}
    args = list(argv)
    while args:
        flag = args.pop(0)
        if flag not in options or not args:
            print("usage: course_controller.py [--host H] [--base-port P] [--nodes N]", file=sys.stderr)
            sys.exit(2)
        options[flag] = args.pop(0)
    host, base, count = options["--host"], int(options["--base-port"]), int(options["--nodes"])
    return {"Node%d" % (i + 1): (host, base + i) for i in range(count)}


class Controller:
    def __init__(self, nodes, bind=("0.0.0.0", 0)):
        self.nodes = nodes
        self.by_address = {address: name for name, address in nodes.items()}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(bind)

    def message(self, request, key=None, value=None, **extra):
        # The course template (Message.json), plus any extra fields SPEC 4 allows.
        msg = {"sender_name": "Controller", "request": request, "term": None, "key": key, "value": value}
        msg.update(extra)
        return msg

    def send(self, node, msg):
        self.sock.sendto(json.dumps(msg).encode("utf-8"), self.nodes[node])

    def receive(self, node, bufsize=BUFFER, timeout=REPLY_TIMEOUT):
        """The next reply from `node`, or None after `timeout` seconds."""
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data, address = self.sock.recvfrom(bufsize)
            except socket.timeout:
                return None
            if self.by_address.get(address) == node:
                return json.loads(data.decode("utf-8"))

    def ask(self, node, msg, bufsize=BUFFER, timeout=REPLY_TIMEOUT):
        self.send(node, msg)
        return self.receive(node, bufsize, timeout)

    def leader_info(self, node):
        reply = self.ask(node, self.message("LEADER_INFO"))
        if reply is None:
            return None
        check(reply.get("request") == "LEADER_INFO" and reply.get("key") == "LEADER", "LEADER_INFO reply shape: %r" % reply)
        check(reply.get("sender_name") == node, "LEADER_INFO sender_name: %r" % reply)
        return reply

    def wait_for_leader(self, among, not_this=None):
        """A leader that names itself, as seen from `among`; returns (leader, term)."""
        deadline = time.time() + ELECTION_DEADLINE
        while time.time() < deadline:
            for node in among:
                reply = self.leader_info(node)
                leader = reply and reply.get("value")
                if leader and leader != not_this and leader in self.nodes:
                    own = self.leader_info(leader)
                    if own and own.get("value") == leader:
                        return leader, own["term"]
            time.sleep(0.1)
        raise CheckFailed("no leader elected among %s within %ss" % (among, ELECTION_DEADLINE))

    def retrieve(self, leader):
        """Every committed entry, following "next" pages."""
        entries, start = [], None
        while True:
            value = None if start is None else {"from": start}
            reply = self.ask(leader, self.message("RETRIEVE", value=value), bufsize=RETRIEVE_BUFFER)
            check(reply is not None, "no RETRIEVE reply from %s" % leader)
            check(reply.get("request") == "RETRIEVE", "RETRIEVE answered with %r" % reply)
            check(reply.get("key") == "COMMITED_LOGS" and reply.get("term") is None, "RETRIEVE reply shape: %r" % reply)
            entries.extend(reply["value"])
            if "next" not in reply:
                return entries
            start = reply["next"]

    def wait_until_retrieved(self, leader, key):
        deadline = time.time() + ELECTION_DEADLINE
        while time.time() < deadline:
            if any(entry.get("Key") == key for entry in self.retrieve(leader)):
                return
            time.sleep(0.1)
        raise CheckFailed("%s never appeared in RETRIEVE from %s" % (key, leader))

    def store_expecting_silence(self, leader, key, value):
        # SPEC 4: the leader does not reply to STORE unless "ack" is true.
        reply = self.ask(leader, self.message("STORE", key, value), timeout=0.5)
        check(reply is None, "the leader replied to a STORE without ack: %r" % reply)


def run(nodes):
    c = Controller(nodes)
    names = sorted(nodes)
    run_id = str(int(time.time() * 1000))[-7:]
    k1, k2, k3 = ("course-%s-%d" % (run_id, i) for i in (1, 2, 3))

    # 1. LEADER_INFO
    old_leader, term1 = c.wait_for_leader(names)
    print("leader %s term %s" % (old_leader, term1))

    # 2. STORE to the leader (no reply), committed before the leader goes away
    c.store_expecting_silence(old_leader, k1, "v1")
    c.wait_until_retrieved(old_leader, k1)

    # 3. SHUTDOWN the leader: no reply, then it knows no leader
    c.send(old_leader, c.message("SHUTDOWN"))
    time.sleep(0.2)
    shut = c.leader_info(old_leader)
    check(shut is not None and shut["value"] is None, "a shut-down node still names a leader: %r" % shut)
    survivors = [n for n in names if n != old_leader]
    new_leader, term2 = c.wait_for_leader(survivors, not_this=old_leader)
    check(term2 > term1, "new term %s is not above %s" % (term2, term1))
    print("new leader %s term %s" % (new_leader, term2))

    # 4. STORE to the new leader, with "ack": the reply names the index and term
    ack = c.ask(new_leader, c.message("STORE", k2, {"n": 2}, ack=True), timeout=6.0)
    check(ack is not None, "no STORE ack from %s" % new_leader)
    check(ack.get("sender_name") == new_leader and ack.get("request") == "STORE" and "error" not in ack, "STORE ack: %r" % ack)
    check(ack.get("key") == k2 and ack.get("value") == {"n": 2} and isinstance(ack.get("index"), int), "STORE ack fields: %r" % ack)
    term_k2 = ack["term"]

    # 5. CONVERT_FOLLOWER the old leader: it comes back and learns the new leader
    c.send(old_leader, c.message("CONVERT_FOLLOWER"))
    deadline = time.time() + ELECTION_DEADLINE
    while True:
        back = c.leader_info(old_leader)
        if back and back["value"] not in (None, old_leader):
            break
        check(time.time() < deadline, "%s did not rejoin after CONVERT_FOLLOWER: %r" % (old_leader, back))
        time.sleep(0.1)

    # 6. STORE through the old leader: it redirects with LEADER_INFO
    redirect = c.ask(old_leader, c.message("STORE", k3, "v3"))
    check(redirect is not None and redirect.get("request") == "LEADER_INFO", "STORE to a follower: %r" % redirect)
    leader, term3 = c.wait_for_leader(names)
    check(leader == redirect["value"] or redirect["value"] is None, "redirect to %r, but %s leads" % (redirect["value"], leader))
    c.store_expecting_silence(leader, k3, "v3")
    c.wait_until_retrieved(leader, k3)

    # 7. RETRIEVE: our three entries, in order, with their terms
    ours = [e for e in c.retrieve(leader) if e.get("Key") in (k1, k2, k3)]
    expected = [
        {"Term": term1, "Key": k1, "Value": "v1"},
        {"Term": term_k2, "Key": k2, "Value": {"n": 2}},
        {"Term": term3, "Key": k3, "Value": "v3"},
    ]
    check(ours == expected, "RETRIEVE returned %r, expected %r" % (ours, expected))
    print("PASS: grading sequence (leader %s, then %s; %d entries retrieved in order)" % (old_leader, new_leader, len(expected)))


def main():
    nodes = parse_args(sys.argv[1:])
    try:
        run(nodes)
    except CheckFailed as failure:
        print("FAIL: %s" % failure)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
