"""Imported by a secure sweep's fork server, and by nothing else: it measures the agent
image once, so that every run forked from the server finds the compiled source files and
the code digests already there (`secmas.trust.compiled` keeps them per file version,
`secmas.trust.codehash` per live code object) instead of compiling some 300 files in its
own first measurement (about 1.5 s a run on 2 cores). A file changed since has a new
version and is compiled again in the run that measures it."""

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.pipeline.images import secmas_image
from secmas.trust.repository import ReferenceRepository

secmas_image(Ed25519PrivateKey.generate(), ReferenceRepository()).runtime.measure()
