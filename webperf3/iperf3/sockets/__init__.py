"""What the kernel says about the fleet's sockets, beside the log's flow:
the sock_diag netlink answer (:mod:`.sockdiag`), /proc's (:mod:`.netstat`),
the supervisor's sampling of them (:mod:`.sampler`) and a running test's
live figures worked out from successive looks (:mod:`.progress`, pure)."""
