"""The apply op as one journaled transaction, in the order it runs.

apply            lock, recover, check all, journal, change, wait, undo: the op itself
record           the journal record of one apply, read before the first write
journal          the journal file: written before the first write, one phase at a time
recovery         finishing or undoing the transaction a killed run left
manifest_change  one pod's change: check, back up, write, undo (its files, then its manifest)
file_change      one file of a pod: check, back up, write or remove, undo
kubelet_change   the kubelet's configuration: write, restart, wait for health, or undo
wait             waiting for the changed pods to run and stay up
"""
