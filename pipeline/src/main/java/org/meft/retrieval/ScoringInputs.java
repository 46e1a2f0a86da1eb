package org.meft.retrieval;

import org.meft.store.HostStore;

/**
 * What one scoring pass of {@link KeyRetrieval} reads and writes: layer {@code layer} of the store,
 * the hidden states h [T, d], the router scores of the (token, probe) pairs [T, P], R = {@code
 * perExpert} rows per expert, and the output scores [T, P, R].
 */
record ScoringInputs(
    HostStore store,
    int layer,
    float[] h,
    int probes,
    float[] probeScores,
    int perExpert,
    float[] scores) {}
