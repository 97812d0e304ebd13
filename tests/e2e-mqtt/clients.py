#!/usr/bin/python3
# MQTT clients for mqtt2gw.sh (python3-paho-mqtt 1.6, MQTT 5).
#
#   clients.py basic PORT-A PORT-B        QoS 0/1/2, retained, MQTT 5 properties,
#                                         both directions, no loops, the denied topic
#   clients.py bulk PORT-A PORT-B N FILE  N QoS 1 messages A -> B; each arrival's
#                                         number is appended to FILE; all, none twice
#   clients.py cross [--props] FROM>TO ... (mqtt-options.sh) each FROM is
#                                         PORT:TOPIC, published once (QoS 1), each TO
#                                         PORT:TOPIC where it must arrive, or "-" for
#                                         nowhere; every broker named, watched on "#",
#                                         sees each message exactly there, once: no
#                                         loop, nothing astray.  A PORT of a TLS
#                                         broker is PORT@CAFILE.
import collections, sys, threading, time
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

BRIDGE = "xgw-bridge"


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


class Client:
    """One MQTT 5 connection that records what arrives."""

    def __init__(self, port, name, sub=None, clean=True, ca=None):
        self.got = []
        self.cond = threading.Condition()
        self.c = mqtt.Client(client_id=name, protocol=mqtt.MQTTv5)
        self.c.on_message = self.on_message
        if ca:
            self.c.tls_set(ca_certs=ca)
        props = None
        if not clean:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 600
        self.c.connect("127.0.0.1", port, keepalive=30, clean_start=clean,
                       properties=props)
        self.c.loop_start()
        if sub:
            r, mid = self.c.subscribe(sub, qos=2)
            if r != 0:
                fail("subscribe %s: %d" % (sub, r))
            time.sleep(0.3)

    def on_message(self, c, u, m):
        with self.cond:
            self.got.append(m)
            self.cond.notify_all()

    def wait(self, pred, secs, what):
        end = time.time() + secs
        with self.cond:
            while not pred(self.got):
                left = end - time.time()
                if left <= 0:
                    fail("%s: not within %ds (got %d messages: %s)" % (
                        what, secs, len(self.got),
                        [(m.topic, m.payload[:20]) for m in self.got[:10]]))
                self.cond.wait(left)

    def pub(self, topic, payload, qos=0, retain=False, props=None):
        info = self.c.publish(topic, payload, qos=qos, retain=retain,
                              properties=props)
        info.wait_for_publish(10)
        if not info.is_published():
            fail("publish %s not confirmed by the broker" % topic)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def user_props(m):
    return [tuple(p) for p in getattr(m.properties, "UserProperty", [])]


def basic(pa, pb):
    bsub = Client(pb, "test-b-sub", "sensors/#")
    asub = Client(pa, "test-a-sub", "sensors/#")
    apub = Client(pa, "test-a-pub")
    bpub = Client(pb, "test-b-pub")

    # QoS 0, 1, 2 with binary payloads, A -> B
    for q in (0, 1, 2):
        payload = bytes([q, 0, 255, 10, 13]) + b"qos%d" % q
        apub.pub("sensors/qos%d" % q, payload, qos=q)
        bsub.wait(lambda g: any(m.topic == "sensors/qos%d" % q for m in g), 10,
                  "QoS %d at B" % q)
        m = [m for m in bsub.got if m.topic == "sensors/qos%d" % q][0]
        if m.payload != payload or m.qos != q or m.retain:
            fail("QoS %d: payload %r qos %d retain %d" % (q, m.payload, m.qos, m.retain))
        if not any(k == BRIDGE for k, v in user_props(m)):
            fail("QoS %d: no %s user property at B" % (q, BRIDGE))
    print("ok: QoS 0, 1, 2 from A to B, payload bytes, QoS and retain kept")

    # MQTT 5 properties
    p = Properties(PacketTypes.PUBLISH)
    p.ContentType = "application/json"
    p.PayloadFormatIndicator = 1
    p.MessageExpiryInterval = 3600
    p.ResponseTopic = "replies/here"
    p.CorrelationData = b"\x00\x01corr"
    p.UserProperty = [("site", "plant-1"), ("unit", "degC"), ("site", "again")]
    apub.pub("sensors/props", b'{"t": 21.5}', qos=1, props=p)
    bsub.wait(lambda g: any(m.topic == "sensors/props" for m in g), 10, "properties at B")
    m = [m for m in bsub.got if m.topic == "sensors/props"][0]
    mp = m.properties
    checks = [
        (mp.ContentType, "application/json"),
        (mp.PayloadFormatIndicator, 1),
        (mp.ResponseTopic, "replies/here"),
        (mp.CorrelationData, b"\x00\x01corr"),
        (user_props(m)[:3], [("site", "plant-1"), ("unit", "degC"), ("site", "again")]),
    ]
    for got, want in checks:
        if got != want:
            fail("properties: got %r, want %r" % (got, want))
    if not 3500 < mp.MessageExpiryInterval <= 3600:
        fail("message expiry %r" % mp.MessageExpiryInterval)
    print("ok: MQTT 5 properties kept (content type, format, expiry %d, response topic, "
          "correlation data, user properties in order)" % mp.MessageExpiryInterval)

    # retained: a subscriber arriving later at B gets it, with the retain flag
    apub.pub("sensors/retained", b"kept", qos=1, retain=True)
    bsub.wait(lambda g: any(m.topic == "sensors/retained" for m in g), 10, "retained at B")
    late = Client(pb, "test-b-late", "sensors/retained")
    late.wait(lambda g: len(g) > 0, 10, "retained message for a later subscriber")
    if late.got[0].payload != b"kept" or not late.got[0].retain:
        fail("retained: %r retain=%d" % (late.got[0].payload, late.got[0].retain))
    late.close()
    print("ok: a retained message is retained at B")

    # B -> A on the same filter, at the same time: both directions, no loops
    for i in range(20):
        apub.pub("sensors/a2b/%d" % i, b"a%d" % i, qos=1)
        bpub.pub("sensors/b2a/%d" % i, b"b%d" % i, qos=1)
    bsub.wait(lambda g: sum(m.topic.startswith("sensors/a2b/") for m in g) >= 20, 15, "A->B")
    asub.wait(lambda g: sum(m.topic.startswith("sensors/b2a/") for m in g) >= 20, 15, "B->A")
    time.sleep(2)
    for name, sub, mine, theirs in (("A", asub, "a2b", "b2a"), ("B", bsub, "b2a", "a2b")):
        for kind in (mine, theirs):
            topics = [m.topic for m in sub.got if m.topic.startswith("sensors/%s/" % kind)]
            if sorted(topics) != sorted(set(topics)) or len(topics) != 20:
                fail("at %s, sensors/%s/*: %d messages, %d distinct (a loop?)" % (
                    name, kind, len(topics), len(set(topics))))
    print("ok: 20 messages each way at once on the same filter, each seen once on "
          "each broker (no loop)")

    # the denied topic: never at B, though a message after it arrives
    apub.pub("denied/secret", b"nope", qos=1)
    apub.pub("denied/secret0", b"nope", qos=0)
    apub.pub("sensors/after-denied", b"yes", qos=1)
    bden = Client(pb, "test-b-den", "#")
    apub.pub("sensors/after-denied2", b"yes", qos=1)
    bden.wait(lambda g: any(m.topic == "sensors/after-denied2" for m in g), 10,
              "the message after the denied ones")
    bsub.wait(lambda g: any(m.topic == "sensors/after-denied" for m in g), 10,
              "the message after the denied ones")
    time.sleep(1)
    if any(m.topic.startswith("denied/") for m in bden.got + bsub.got):
        fail("a denied topic reached B")
    print("ok: the denied topic never reaches B; the messages after it do")
    for c in (bsub, asub, apub, bpub, bden):
        c.close()


def bulk(pa, pb, n, path):
    out = open(path, "w", buffering=1)
    seen = []
    lock = threading.Lock()

    def on_message(c, u, m):
        with lock:
            seen.append(int(m.payload))
            out.write("%s\n" % m.payload.decode())

    sub = mqtt.Client(client_id="test-bulk-sub", protocol=mqtt.MQTTv5)
    sub.on_message = on_message
    p = Properties(PacketTypes.CONNECT)
    p.SessionExpiryInterval = 600
    sub.connect("127.0.0.1", pb, keepalive=30, clean_start=True, properties=p)
    sub.loop_start()
    sub.subscribe("bulk/#", qos=1)
    time.sleep(0.5)
    pub = mqtt.Client(client_id="test-bulk-pub", protocol=mqtt.MQTTv5)
    pub.max_inflight_messages_set(100)
    pub.connect("127.0.0.1", pa, keepalive=30)
    pub.loop_start()
    t0 = time.time()
    infos = []
    for i in range(n):
        infos.append(pub.publish("bulk/%d" % (i % 10), b"%d" % i, qos=1))
        if i % 200 == 199:
            time.sleep(0.1)	# about 2,000/s: the far gateway dies mid-stream
    for info in infos:
        info.wait_for_publish(30)
    t1 = time.time()
    end = t1 + 150
    while time.time() < end:
        with lock:
            if len(set(seen)) >= n:
                break
        time.sleep(0.2)
    t2 = time.time()
    time.sleep(3)	# late duplicates
    with lock:
        got = list(seen)
    missing = sorted(set(range(n)) - set(got))
    dups = len(got) - len(set(got))
    print("bulk: %d published in %.1fs, %d distinct received in %.1fs, %d missing, "
          "%d duplicates" % (n, t1 - t0, len(set(got)), t2 - t0, len(missing), dups))
    if missing:
        fail("%d of %d missing, first %s" % (len(missing), n, missing[:10]))
    # QoS 1 is at least once.  Repeats are counted, not failed: besides what
    # the far broker had taken but gateway B had not yet recorded when it was
    # killed (tens), gateway A's local session may drop under load (receive
    # maximum) and its broker redelivers; those come again under new sequence
    # numbers (hundreds, seen under ASan).  Not finished: see issue 7's note.
    print("ok: %d QoS 1 messages, all delivered; %d repeated" % (n, dups))


def cross(args):
    props = args[:1] == ["--props"]
    specs = [a.split(">") for a in args[props:]]
    brokers = {}
    for fr, to in specs:
        for end in (fr, to):
            if end != "-":
                brokers.setdefault(end.split(":")[0], None)
    for b in brokers:
        port, _, ca = b.partition("@")
        brokers[b] = Client(int(port), "test-watch-%s" % port, "#", ca=ca or None)
    stamp = b"cross-%d" % time.time_ns()
    p = None
    if props:
        p = Properties(PacketTypes.PUBLISH)
        p.UserProperty = [("origin", "test")]
    want = collections.Counter()
    for i, (fr, to) in enumerate(specs):
        b, topic = fr.split(":", 1)
        port, _, ca = b.partition("@")
        pub = Client(int(port), "test-pub-%d" % i, ca=ca or None)
        pub.pub(topic, stamp + b"-%d" % i, qos=1, props=p)
        pub.close()
        want[(b, topic, i)] += 1
        if to != "-":
            want[tuple(to.split(":", 1)) + (i,)] += 1

    def seen():
        c = collections.Counter()
        for b, w in brokers.items():
            for m in w.got:
                if m.payload.startswith(stamp + b"-"):
                    c[(b, m.topic, int(m.payload[len(stamp) + 1:]))] += 1
        return c

    end = time.time() + 15
    while time.time() < end and not all(seen()[k] >= n for k, n in want.items()):
        time.sleep(0.1)
    time.sleep(3)	# loops and strays take a while too
    got = seen()
    if got != want:
        fail("expected %s, seen %s" % (sorted(want.items()), sorted(got.items())))
    for fr, to in specs:
        print("ok: %s arrived %s, once" % (fr, "nowhere else" if to == "-" else "as " + to))
    if props:
        for b, w in brokers.items():
            for m in w.got:
                print("  at %s: %s user properties %s" % (b, m.topic, user_props(m)))
    for w in brokers.values():
        w.close()


if sys.argv[1] == "basic":
    basic(int(sys.argv[2]), int(sys.argv[3]))
elif sys.argv[1] == "bulk":
    bulk(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
elif sys.argv[1] == "cross":
    cross(sys.argv[2:])
else:
    fail("usage: clients.py basic|bulk|cross ...")
