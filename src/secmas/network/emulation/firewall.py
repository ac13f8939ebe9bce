"""nftables rulesets of the emulated network, as text (pure: `network.py` loads them).

Each routing namespace (a PoP or switch) has table `inet secmas`:

- `flows`, `syns`, `acks`: dynamic sets keyed (client, server, service port) with a
  counter per element, updated by every forwarded packet of a flow towards the server
  (`flows`: the direction the simulator models; answers may return another way), by the
  client's bare SYNs (`syns`: connection attempts) and by its bare ACKs (`acks`: each
  completed handshake sends one, and a client that receives data sends more; a SYN flood
  sends none). Stateless on purpose: a PoP that traffic is steered through sees one
  direction only, where conntrack would call the handshake's ACK invalid. This is what
  a Classifier reads (Table 5.4).
- `forward` counts first (`account`), then drops what `blocks` matches, then polices what
  `ratelimits` (link limits) and `iplimits` (limits on traffic towards an address) match:
  blockFlow before the rate limits, as the simulator applies them. An IP limit polices a
  packet once per node, as the simulator polices a flow where it first reaches the node:
  a packet steered back through the node (its path to the steering's first node crossed
  it already) is let through the second time, by its (source, destination, source port,
  IP id) in the `policed` set, kept 2 s. Policed twice, a flood's flows would reach a
  Classifier below its SYN rate and be missed.
- `split` (prerouting, before routing): each traffic split sends a client to its part —
  the simulator's hash of its address (`rules.split_part`, which the VNFs also use), from
  a verdict map the controller fills, or the kernel's `jhash` for a client not yet in it —
  marks the packet `part + 1` in the mark's low byte and records the client in that
  part's set. Steering marks the traffic for policy routing (the mark's second byte:
  the path's routing table) and keeps, in the DSCP field, one bit per path (at most six
  at once) that crosses namespaces with the packet: `steer` (at the path's first node)
  sets the bit as the packet leaves on the path, `transit` (at its inner nodes) routes
  what arrives with the bit from the previous node onwards, and (at its last node) sets
  the bit on everything towards the address that crosses it or starts there (`origin`:
  a CNF instance's answers to the front), so traffic that has been through that PoP is
  never steered back to it (it would come back with its own address as the source,
  which the kernel drops); paths that start at one node apply one
  after the other.

The server's namespace counts, for reports only, what reaches it from attack and
legitimate sources (`truth`); group namespaces count what their clients send and get.
"""

from __future__ import annotations

from collections.abc import Iterable

TABLE = "secmas"
SPLIT_SEED = 0x5EC0
FLOW_KEY = "ipv4_addr . ipv4_addr . inet_service"
BURST_SECONDS = 0.5  # bursty senders on a busy machine: police the mean, not the jitter
MIN_BURST_BYTES = 3000
SYN_UPDATE = "update @syns { ip saddr . ip daddr . th dport }"
ACK_UPDATE = "update @acks { ip saddr . ip daddr . th dport }"
PACKET_KEY = "ip saddr . ip daddr . tcp sport . ip id"
"""One TCP packet, wherever it is (the IP id tells a sender's packets apart)."""
POLICED_SECONDS = 2


def router_ruleset(servers: Iterable[str]) -> str:
    """The base table of a routing namespace; `servers` are the service addresses whose
    flows are recorded."""
    elements = ", ".join(sorted(servers))
    sets = "\n".join(
        f"  set {name} {{ type {FLOW_KEY}; flags dynamic; counter; size 65536; }}"
        for name in ("flows", "syns", "acks")
    )
    return f"""table inet {TABLE} {{
  set servers {{ type ipv4_addr; elements = {{ {elements} }} }}
{sets}
  chain split {{ type filter hook prerouting priority -160; policy accept; }}
  chain transit {{ type filter hook prerouting priority -155; policy accept; }}
  chain steer {{ type filter hook prerouting priority -150; policy accept; }}
  chain origin {{ type filter hook output priority -150; policy accept; }}
  chain account {{
    meta l4proto != {{ tcp, udp }} return
    ip daddr @servers update @flows {{ ip saddr . ip daddr . th dport }}
    ip daddr @servers tcp flags & (syn | ack) == syn {SYN_UPDATE}
    ip daddr @servers tcp flags == ack {ACK_UPDATE}
  }}
  set policed {{
    typeof {PACKET_KEY}; flags dynamic, timeout; timeout {POLICED_SECONDS}s; size 65536;
  }}
  chain blocks {{ }}
  chain ratelimits {{ }}
  chain iplimits {{ }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    jump account
    jump blocks
    jump ratelimits
    jump iplimits
  }}
}}
"""


def truth_ruleset(attackers: Iterable[str], elsewhere: Iterable[str] = ()) -> str:
    """The server's table: bytes and packets from and to attack and legitimate sources
    (ground truth by source address, for the timeline and acceptance only), served
    here or, through the CNF's front (`cnffront`), by an instance on one of the
    `elsewhere` addresses (the PoPs' own), which the front forwards to; `elsewhere_in`
    and `elsewhere_out` count what crosses the server's link only on its way between the
    front and such an instance."""
    sources = sorted(attackers)
    away = ", ".join(sorted(elsewhere))
    members = f"elements = {{ {away} }} " if away else ""
    elsewhere_set = f"  set elsewhere {{ type ipv4_addr; {members}}}"
    attack_set = (
        f"  set attackers {{ type ipv4_addr; elements = {{ {', '.join(sources)} }} }}"
        if sources
        else "  set attackers { type ipv4_addr; }"
    )
    return f"""table inet {TABLE} {{
{attack_set}
{elsewhere_set}
  counter attack_in {{ }}
  counter legit_in {{ }}
  counter attack_out {{ }}
  counter legit_out {{ }}
  chain input {{
    type filter hook input priority filter; policy accept;
    ip saddr @attackers counter name attack_in accept
    meta l4proto tcp counter name legit_in
  }}
  chain output {{
    type filter hook output priority filter; policy accept;
    ip daddr @attackers counter name attack_out accept
    meta l4proto tcp counter name legit_out
  }}
  counter elsewhere_in {{ }}
  counter elsewhere_out {{ }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    ip saddr @elsewhere counter name elsewhere_in
    ip daddr @elsewhere counter name elsewhere_out
    ip daddr @elsewhere ip saddr @attackers counter name attack_in accept
    ip daddr @elsewhere meta l4proto tcp counter name legit_in accept
    ip saddr @elsewhere ip daddr @attackers counter name attack_out accept
    ip saddr @elsewhere meta l4proto tcp counter name legit_out
  }}
}}
"""


def group_ruleset(drop_input: bool) -> str:
    """A client or attacker group's table: what it sends and receives. Attackers drop
    what comes back (their SYN-ACKs), as a spoofed address would never answer."""
    policy = "drop" if drop_input else "accept"
    return f"""table inet {TABLE} {{
  counter sent {{ }}
  counter received {{ }}
  chain output {{ type filter hook output priority filter; counter name sent; }}
  chain input {{
    type filter hook input priority filter; policy {policy};
    meta l4proto tcp counter name received
  }}
}}
"""


def limit(bytes_per_second: float) -> str:
    """An nftables police expression: drop what exceeds the rate (with a short burst)."""
    rate = max(1, round(bytes_per_second))
    burst = max(MIN_BURST_BYTES, round(rate * BURST_SECONDS))
    return f"limit rate over {rate} bytes/second burst {burst} bytes drop"


def block_rule(src_ip: str, dst_ip: str) -> str:
    """blockFlow: drop the flow from `src_ip` to `dst_ip`."""
    return f"ip saddr {src_ip} ip daddr {dst_ip} drop"


def ip_limit_rules(dst_ip: str, bytes_per_second: float) -> list[str]:
    """limitIP: police the traffic towards `dst_ip`, and remember each TCP packet that
    passed (so that `policed_once_rule` lets it through if it comes back)."""
    return [
        f"ip daddr {dst_ip} {limit(bytes_per_second)}",
        f"ip daddr {dst_ip} update @policed {{ {PACKET_KEY} }}",
    ]


def policed_once_rule(dst_ip: str) -> str:
    """First in `iplimits`: a packet towards `dst_ip` the node's IP limits passed already
    is not policed again."""
    return f"ip daddr {dst_ip} {PACKET_KEY} @policed accept"


def link_limit_rule(intf: str, outgoing: bool, bytes_per_second: float) -> str:
    """limitLink: police what leaves on (or, at a host's far end, arrives on) `intf`."""
    direction = "oifname" if outgoing else "iifname"
    return f'{direction} "{intf}" {limit(bytes_per_second)}'


def split_chains(rule_id: int, dst_ip: str, parts: int, known: dict[str, int]) -> list[str]:
    """splitTrafficIP: commands (for `nft -f`) sending each client towards `dst_ip` to its
    part's chain, which marks part+1 and remembers the client there. `known` maps client
    addresses to their part (the simulator's hash, `rules.split_part`) in the verdict map
    `split<id>`; the controller adds clients it sees later; a client not yet mapped is
    hashed by the kernel (`jhash`)."""
    commands = []
    for part in range(parts):
        chain = f"split{rule_id}p{part}"
        commands += [
            f"add set inet {TABLE} {chain} {{ type ipv4_addr; flags dynamic; size 65536; }}",
            f"add chain inet {TABLE} {chain}",
            f"add rule inet {TABLE} {chain} meta mark set meta mark or {part + 1}",
            f"add rule inet {TABLE} {chain} update @{chain} {{ ip saddr }}",
            f"add rule inet {TABLE} {chain} accept",
        ]
    commands.append(f"add map inet {TABLE} split{rule_id} {{ type ipv4_addr : verdict; }}")
    commands += split_members(rule_id, known)
    verdicts = ", ".join(f"{part} : jump split{rule_id}p{part}" for part in range(parts))
    commands += [
        f"add rule inet {TABLE} split ip daddr {dst_ip} ip saddr vmap @split{rule_id}",
        f"add rule inet {TABLE} split ip daddr {dst_ip} jhash ip saddr mod {parts} "
        f"seed {SPLIT_SEED:#x} vmap {{ {verdicts} }}",
    ]
    return commands


def split_members(rule_id: int, members: dict[str, int]) -> list[str]:
    """Commands adding clients to a split's verdict map, each to its part's chain."""
    if not members:
        return []
    elements = ", ".join(
        f"{ip} : jump split{rule_id}p{part}" for ip, part in sorted(members.items())
    )
    return [f"add element inet {TABLE} split{rule_id} {{ {elements} }}"]


def _clear(bit: int) -> list[int]:
    """DSCP values with `bit` clear (nftables cannot or a field with itself, and its map
    on the DSCP field is broken in 1.0.6: setting a bit takes one rule per value)."""
    return [value for value in range(64) if not value & bit]


def steer_rules(
    dst_ip: str, bit: int, index: int, part: int | None, src_ip: str | None = None
) -> list[str]:
    """At a steering path's first node: traffic towards `dst_ip` (of split part `part`,
    from `src_ip`)
    in transit on no other path here and not yet steered by this path (its DSCP bit
    clear) is marked for routing table `index` and gets the bit; `accept` ends the chain,
    so of several paths starting here the newest applies first (the packet comes back
    for the others once it is through)."""
    part_match = "" if part is None else f"meta mark and 0xff == {part + 1} "
    part_match += "" if src_ip is None else f"ip saddr {src_ip} "
    return [
        f"meta mark and 0xff00 == 0 ip daddr {dst_ip} {part_match}ip dscp {value} "
        f"meta mark set meta mark and 0xffff00ff or {index << 8:#x} "
        f"ip dscp set {value | bit} accept"
        for value in _clear(bit)
    ]


def transit_rule(dst_ip: str, bit: int, index: int, arriving: str) -> str:
    """At a steering path's inner node: what arrives from the previous node carrying the
    path's bit is marked for the path's routing table here."""
    return (
        f'iifname "{arriving}" ip daddr {dst_ip} ip dscp and {bit} == {bit} '
        f"meta mark set meta mark and 0xffff00ff or {index << 8:#x}"
    )


def crossed_rules(dst_ip: str, bit: int) -> list[str]:
    """At a steering path's last node: set the path's bit on all traffic towards `dst_ip`
    crossing it, so that the path's first node leaves it alone (it has been through this
    PoP)."""
    return [f"ip daddr {dst_ip} ip dscp {v} ip dscp set {v | bit}" for v in _clear(bit)]
