"""The benchmark suite (``wm bench``): latent vs pixel world models under one protocol."""
