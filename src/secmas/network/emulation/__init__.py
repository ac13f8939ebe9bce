"""The emulated data plane: a scenario as a real Linux network on this machine.

`plan` computes names, addresses and routes; `network` builds them with Mininet
(namespaces, veths shaped by `TCLink`, `LinuxBridge` access switches) and nftables
(`firewall`); `workload` runs the real HTTP server, clients and SYN flood in them;
`controller` is the `Controller` the VNFs drive it through; `registry` makes sure no run
leaves anything behind. Nothing here is imported by the simulator path.
"""
