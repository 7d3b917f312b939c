"""DNS messages on the wire: reading queries, finishing replies (EDNS, truncation), error replies.

A reply that does not fit the client's UDP size (512 bytes, or what its EDNS OPT record offers,
at most 4096) goes back truncated — header with TC set, the question, no records — so the client
asks again over TCP (RFC 1035 4.2.1, RFC 7766). A query with an OPT record gets one back
(RFC 6891), offering 1232 bytes like most resolvers since DNS flag day 2020.
"""

from __future__ import annotations

import struct

from dnslib import EDNS0, QTYPE, RCODE, DNSError, DNSHeader, DNSRecord

PLAIN_UDP_SIZE = 512
MAX_UDP_SIZE = 4096
OUR_UDP_SIZE = 1232
HEADER = struct.Struct("!HHHHHH")


class BadQuery(Exception):
    """Not a query this server can answer; `reply` is what to send back (None: drop it)."""

    def __init__(self, reply: bytes | None) -> None:
        super().__init__("bad query")
        self.reply = reply


def parse_query(data: bytes) -> DNSRecord:
    """The query in `data`; raises BadQuery (with a FORMERR/NOTIMP reply when one can be made)."""
    if len(data) < HEADER.size:
        raise BadQuery(None)
    ident, flags, qdcount, _, _, _ = HEADER.unpack_from(data)
    if flags & 0x8000:  # a response: never answer one (no reflection loops)
        raise BadQuery(None)
    opcode = (flags >> 11) & 0xF
    if opcode != 0:
        raise BadQuery(_error_header(ident, flags, RCODE.NOTIMP))
    if qdcount != 1:
        raise BadQuery(_error_header(ident, flags, RCODE.FORMERR))
    try:
        request = DNSRecord.parse(data)
    except (DNSError, ValueError, IndexError, UnicodeDecodeError, struct.error):
        raise BadQuery(_error_header(ident, flags, RCODE.FORMERR)) from None
    return request


def _error_header(ident: int, flags: int, rcode: int) -> bytes:
    """A reply with only a header: QR set, the query's opcode and RD, the rcode."""
    reply_flags = 0x8000 | (flags & 0x7900) | 0x0080 | rcode  # QR, opcode, RD kept; RA set
    return HEADER.pack(ident, reply_flags, 0, 0, 0, 0)


def _edns(request: DNSRecord) -> int | None:
    """The UDP size a query's OPT record offers, None when it has none."""
    for rr in request.ar:
        if rr.rtype == QTYPE.OPT:
            return int(rr.rclass)
    return None


def udp_limit(request: DNSRecord) -> int:
    """How large a UDP reply to `request` may be."""
    offered = _edns(request)
    return PLAIN_UDP_SIZE if offered is None else max(PLAIN_UDP_SIZE, min(offered, MAX_UDP_SIZE))


def finish(request: DNSRecord, reply: DNSRecord, *, limit: int | None) -> bytes:
    """`reply` packed, with an OPT record when the query had one, truncated beyond `limit` bytes."""
    if _edns(request) is not None and not any(rr.rtype == QTYPE.OPT for rr in reply.ar):
        reply.add_ar(EDNS0(udp_len=OUR_UDP_SIZE))
    data = reply.pack()
    if limit is None or len(data) <= limit:
        return data
    header = DNSHeader(id=reply.header.id, bitmap=reply.header.bitmap, qr=1)
    header.tc = 1
    short = DNSRecord(header, q=reply.q)
    if _edns(request) is not None:
        short.add_ar(EDNS0(udp_len=OUR_UDP_SIZE))
    return short.pack()


def servfail(request: DNSRecord) -> bytes:
    """SERVFAIL for `request` (upstream unreachable, or overloaded)."""
    reply = request.reply(ra=1, aa=0)
    reply.header.rcode = RCODE.SERVFAIL
    return finish(request, reply, limit=None)
