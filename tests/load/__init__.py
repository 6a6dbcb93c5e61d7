"""Load runs (`bench/load.py` against real processes): minutes each."""
