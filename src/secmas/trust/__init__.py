"""SECaaS trust: measure agents (ELF images, Python packages), wrap them in signed reference
manifests kept in a repository, and re-measure running agents so a verifier can compare."""
