/* A Promela model of the leader election in src/election/: 3 voters,
 * Pre-Vote, Vote, Heartbeat and its ack, CheckQuorum, the leader lease and
 * leadership transfer, over a network that loses, reorders and duplicates
 * messages, with voters that crash and restart keeping only their persisted term and vote.
 *
 * The correspondence to the C code, function by function, and the bounds
 * are in README.md next to this file; test/model/check.sh runs it.
 *
 * Properties (assertions; every reachable state is the end of one d_step,
 * and each d_step ends with the checks that apply):
 *   P1 at most one leader per term            (become_leader, ghost elected[])
 *   P2 a leader acts only under a lease, and then no other node holds a
 *      lease and no leader was elected in a higher term (command(), inv())
 *   P3 a voter never votes twice in one term, across crashes
 *                                              (record_vote, ghost vote_of[])
 *
 * Time is discrete: one global clock tick ages every timer at once, so the
 * nodes' clocks run at the same rate (the lease margin, which covers clock
 * drift in the C code, is kept as a parameter but no drift is modelled).
 * Timers are kept as ages ("ticks since ...") that saturate where the code
 * stops caring, which makes the state space finite without bounding time:
 * the search covers runs of any length.
 *
 * Everything a node does is optional and may happen at any tick after it is
 * allowed (a node may be slow, paused or never tick), which only adds
 * behaviours to the C code's: a safety property shown here holds for it.
 *
 * Every message names its recipient, and a voter refuses one addressed to
 * another (election_receive): delivered to the wrong voter, a message is
 * lost, which the network already does, so the positive model has no
 * misdelivery step. A follower takes a heartbeat only when it echoes a
 * recent message of the follower's (election_on_heartbeat); that depends
 * on timing the model abstracts, so any heartbeat may be judged stale:
 * then it only teaches its term and is answered "not granted".
 *
 * Negative variants, each expected to violate a property (check.sh runs
 * them and fails if spin finds nothing, so the properties are not vacuous):
 *   -DNO_RESTART_STICKY   a restarted voter is not sticky      -> P2
 *   -DNO_STICKY           voters are never sticky              -> P2
 *   -DVOTE_NOT_PERSISTED  votedFor is lost in a crash          -> P3
 *   -DNO_ADDRESS_CHECK    a message delivered to the wrong voter is taken
 *                         as its own (a vote replayed to another
 *                         candidate counts)                    -> P1
 */

#ifndef T
#define T 3             /* election timeout, ticks */
#endif
#ifndef MARGIN
#define MARGIN 1        /* lease_margin_ms, ticks */
#endif
#ifndef MAXTERM
#define MAXTERM 3       /* no campaign beyond this term */
#endif
#ifndef NMSG
#define NMSG 4          /* messages in flight; a send to a full network is lost */
#endif

#define LEASE (T - MARGIN)

#define N 3
#define QUORUM 2
#define NTERMS (MAXTERM + 1)

/* enum election_role */
#define FOLLOWER 0
#define PRE 1
#define CAND 2
#define LEADER 3

/* Nodectl__ElectionKind (proto/election.proto) */
#define PV 1   /* ELECTION_PRE_VOTE */
#define PVR 2  /* ELECTION_PRE_VOTE_RESP */
#define V 3    /* ELECTION_VOTE */
#define VR 4   /* ELECTION_VOTE_RESP */
#define HB 5   /* ELECTION_HEARTBEAT */
#define HBR 6  /* ELECTION_HEARTBEAT_RESP */
#define TN 7   /* ELECTION_TIMEOUT_NOW */

/* struct election, one entry per node i (ids are i + 1, 0 = none). */
byte term[N];      /* hs.term: persisted */
byte voted[N];     /* hs.voted_for: persisted */
byte role[N];
byte leader[N];
byte contact[N];   /* now - leader_contact, saturated at T: sticky below T */
byte timer[N];     /* ticks since election_reset_timer, saturated at T */
byte lead_age[N];  /* now - leader_since, saturated at T */
byte lease[N];     /* lease_until - now, 0 when none */
byte granted[N];   /* v[].granted as a bit set */
byte acked[N * N]; /* [i*N+j]: now - v[j].acked_sent_ms at leader i, T = NEVER or too old */

/* The network: a bag of messages, sorted so that equal bags are equal states.
 * A message is kind<<12 | from<<10 | to<<8 | term<<5 | granted<<4 |
 * transfer<<3 | age, age being now - sent_ms for HB and HBR (saturated at T).
 * 0 is an empty slot. */
short net[NMSG];

/* Ghost history, never erased by a crash. */
byte elected[NTERMS];     /* who became leader in each term */
byte vote_of[N * NTERMS]; /* whom node i voted for in each term */

/* Scratch, written before it is read inside one d_step: not part of the state. */
hidden short x_msg, x_tmp;
hidden byte m_kind, m_from, m_term, m_granted, m_transfer, m_age;
hidden byte x_s_i, x_s_j, x_n, x_r, x_cnt, x_base, x_lo, x_hi, x_grant, x_hterm;

inline sort_net() {
    x_s_i = 0;
    do
    :: x_s_i < NMSG - 1 ->
        x_s_j = 0;
        do
        :: x_s_j < NMSG - 1 - x_s_i ->
            if
            :: net[x_s_j] < net[x_s_j + 1] ->
                x_tmp = net[x_s_j]; net[x_s_j] = net[x_s_j + 1]; net[x_s_j + 1] = x_tmp
            :: else -> skip
            fi;
            x_s_j++
        :: else -> break
        od;
        x_s_i++
    :: else -> break
    od
}

/* election_send */
inline send(kd, fr, dst, tm, gr, tr, ag) {
    if
    :: net[NMSG - 1] == 0 ->
        net[NMSG - 1] = (kd << 12) | (fr << 10) | (dst << 8) | (tm << 5) | (gr << 4) | (tr << 3) | ag;
        sort_net()
    :: else -> skip /* network full: lost */
    fi
}

/* election_broadcast */
inline broadcast(fr, kd, tm, tr) {
    x_n = 0;
    do
    :: x_n < N -> if :: x_n != fr -> send(kd, fr, x_n, tm, 0, tr, 0) :: else -> skip fi; x_n++
    :: else -> break
    od
}

/* P3: the ghost remembers every vote, including a candidate's own. */
inline record_vote(i, cand) {
    assert(vote_of[i * NTERMS + term[i]] == 0 || vote_of[i * NTERMS + term[i]] == cand);
    vote_of[i * NTERMS + term[i]] = cand
}

/* P2: at most one node holds a lease at any time. */
inline inv() {
    x_cnt = 0;
    x_n = 0;
    do
    :: x_n < N -> if :: role[x_n] == LEADER && lease[x_n] > 0 -> x_cnt++ :: else -> skip fi; x_n++
    :: else -> break
    od;
    assert(x_cnt <= 1)
}

/* election_sticky */
#ifdef NO_STICKY
#define sticky(i) (role[i] == LEADER)
#else
#define sticky(i) (role[i] == LEADER || contact[i] < T)
#endif

#define ngranted(i) (((granted[i] >> 0) & 1) + ((granted[i] >> 1) & 1) + ((granted[i] >> 2) & 1))

/* Values a role no longer reads are reset, so that states that differ only
 * in them are one state: granted (read by candidates, cleared when a
 * campaign starts), acked, lead_age, lease (read by the leader, set when it
 * becomes leader), timer (not read by a leader). */
inline forget_leader_state(i) {
    lead_age[i] = 0;
    lease[i] = 0;
    acked[i * N + 0] = T; acked[i * N + 1] = T; acked[i * N + 2] = T
}

/* election_become_follower */
inline become_follower(i, tm, ldr) {
    if :: tm > term[i] -> term[i] = tm; voted[i] = 0 :: else -> skip fi;
    role[i] = FOLLOWER;
    leader[i] = ldr;
    granted[i] = 0;
    forget_leader_state(i);
    timer[i] = 0
}

/* election_heartbeat (the leader acknowledges itself at its own heartbeat) */
inline heartbeat(i) {
    acked[i * N + i] = 0;
    broadcast(i, HB, term[i], 0)
}

/* election_become_leader; P1 */
inline become_leader(i) {
    assert(elected[term[i]] == 0 || elected[term[i]] == i + 1);
    elected[term[i]] = i + 1;
    role[i] = LEADER;
    leader[i] = i + 1;
    granted[i] = 0;
    timer[i] = 0;
    forget_leader_state(i);
    heartbeat(i)
}

/* start_vote (election_vote.c); callers ensure term[i] < MAXTERM */
inline start_vote(i, tr) {
    term[i] = term[i] + 1;
    voted[i] = i + 1;
    record_vote(i, i + 1);
    role[i] = CAND;
    leader[i] = 0;
    granted[i] = 1 << i;
    timer[i] = 0;
    broadcast(i, V, term[i], tr)
}

/* election_campaign(e, true, false), from election_tick */
inline campaign(i) {
    role[i] = PRE;
    leader[i] = 0;
    granted[i] = 1 << i;
    timer[i] = 0;
    broadcast(i, PV, term[i] + 1, 0)
}

/* election_check_quorum: the second smallest age of three is the newest
 * send time a quorum (2) acknowledged (quorum_acked). */
inline quorum_acked(i) {
    x_lo = acked[i * N + 0]; x_hi = acked[i * N + 1];
    if :: x_lo > x_hi -> x_tmp = x_lo; x_lo = x_hi; x_hi = x_tmp :: else -> skip fi;
    /* median of lo <= hi and the third */
    if
    :: acked[i * N + 2] <= x_lo -> x_base = x_lo
    :: acked[i * N + 2] >= x_hi -> x_base = x_hi
    :: else -> x_base = acked[i * N + 2]
    fi
}

inline check_quorum(i) {
    quorum_acked(i);
    if :: x_base >= T -> become_follower(i, term[i], 0) :: else -> skip fi
}

/* election_transfer(e, now, j + 1) */
inline transfer(i, j) {
    lease[i] = 0;
    send(TN, i, j, term[i], 0, 1, 0);
    role[i] = FOLLOWER;
    leader[i] = 0;
    forget_leader_state(i);
    timer[i] = 0
}

/* A crash and an immediate restart: election_new with the persisted hard
 * state. A node that stays down for a while is a node that does nothing
 * while its messages are lost, then restarts: both are already behaviours
 * of the model. */
inline restart(i) {
#ifdef VOTE_NOT_PERSISTED
    voted[i] = 0;
#endif
    role[i] = FOLLOWER;
    leader[i] = 0;
    granted[i] = 0;
    forget_leader_state(i);
    timer[i] = 0;
#ifdef NO_RESTART_STICKY
    contact[i] = T
#else
    contact[i] = 0 /* leader_contact = now */
#endif
}

/* The action a leader takes only under its lease (election_has_lease): a
 * command. P2: nobody was elected in a higher term, and nobody else holds
 * a lease (inv). */
inline command(i) {
    x_hterm = term[i] + 1;
    do
    :: x_hterm <= MAXTERM -> assert(elected[x_hterm] == 0); x_hterm++
    :: else -> break
    od;
    inv()
}

/* One clock tick. */
inline clock() {
    x_n = 0;
    do
    :: x_n < N ->
        if :: contact[x_n] < T -> contact[x_n]++ :: else -> skip fi;
        if
        :: role[x_n] == LEADER ->
            if :: lead_age[x_n] < T -> lead_age[x_n]++ :: else -> skip fi;
            if :: lease[x_n] > 0 -> lease[x_n]-- :: else -> skip fi;
            x_s_j = 0;
            do
            :: x_s_j < N -> if :: acked[x_n * N + x_s_j] < T -> acked[x_n * N + x_s_j]++ :: else -> skip fi; x_s_j++
            :: else -> break
            od
        :: else ->
            if :: timer[x_n] < T -> timer[x_n]++ :: else -> skip fi
        fi;
        x_n++
    :: else -> break
    od;
    x_n = 0;
    do
    :: x_n < NMSG ->
        m_kind = (net[x_n] >> 12) & 7;
        if
        :: (m_kind == HB || m_kind == HBR) && (net[x_n] & 7) < T -> net[x_n]++
        :: else -> skip
        fi;
        x_n++
    :: else -> break
    od;
    sort_net()
}

/* election_on_pre_vote. A pre-candidate that grants to a voter that
 * outranks it stands down; ranks are a matter of liveness, so the model
 * lets any grant do so, or not. (The timer it restarts then, a follower's
 * too, only removes behaviours: every action is optional.) */
inline on_pre_vote() {
    if :: m_term > term[x_r] && !sticky(x_r) -> x_grant = 1 :: else -> x_grant = 0 fi;
    if
    :: x_grant && role[x_r] == PRE -> role[x_r] = FOLLOWER
    :: true -> skip
    fi;
    if
    :: x_grant -> send(PVR, x_r, m_from, m_term, 1, 0, 0)
    :: else -> send(PVR, x_r, m_from, term[x_r], 0, 0, 0)
    fi
}

/* election_on_pre_vote_resp */
inline on_pre_vote_resp() {
    if
    :: m_term > term[x_r] && !m_granted -> become_follower(x_r, m_term, 0)
    :: else ->
        if
        :: role[x_r] == PRE && m_term == term[x_r] + 1 && m_granted ->
            granted[x_r] = granted[x_r] | (1 << m_from);
            if :: ngranted(x_r) >= QUORUM -> start_vote(x_r, 0) :: else -> skip fi
        :: else -> skip
        fi
    fi
}

/* election_on_vote */
inline on_vote() {
    if
    :: !m_transfer && sticky(x_r) && m_term > term[x_r] -> send(VR, x_r, m_from, term[x_r], 0, 0, 0)
    :: else ->
        if :: m_term > term[x_r] -> become_follower(x_r, m_term, 0) :: else -> skip fi;
        if
        :: m_term == term[x_r] && (voted[x_r] == 0 || voted[x_r] == m_from + 1) ->
            voted[x_r] = m_from + 1;
            record_vote(x_r, m_from + 1);
            timer[x_r] = 0;
            send(VR, x_r, m_from, term[x_r], 1, 0, 0)
        :: else -> send(VR, x_r, m_from, term[x_r], 0, 0, 0)
        fi
    fi
}

/* election_on_vote_resp */
inline on_vote_resp() {
    if
    :: m_term > term[x_r] -> become_follower(x_r, m_term, 0)
    :: else ->
        if
        :: role[x_r] == CAND && m_term == term[x_r] && m_granted ->
            granted[x_r] = granted[x_r] | (1 << m_from);
            if :: ngranted(x_r) >= QUORUM -> become_leader(x_r) :: else -> skip fi
        :: else -> skip
        fi
    fi
}

/* election_on_heartbeat: a fresh heartbeat is taken; a stale one (it echoes
 * no recent message of ours, or is no newer than the last taken: either
 * choice may apply to any heartbeat here) only teaches its term. */
inline on_heartbeat() {
    if
    :: m_term < term[x_r] -> send(HBR, x_r, m_from, term[x_r], 0, 0, m_age)
    :: m_term >= term[x_r] ->
        if
        :: m_term > term[x_r] || role[x_r] != FOLLOWER || leader[x_r] != m_from + 1 ->
            become_follower(x_r, m_term, m_from + 1)
        :: else -> skip
        fi;
        contact[x_r] = 0;
        timer[x_r] = 0;
        send(HBR, x_r, m_from, term[x_r], 1, 0, m_age)
    :: m_term >= term[x_r] ->
        if :: m_term > term[x_r] -> become_follower(x_r, m_term, m_from + 1) :: else -> skip fi;
        send(HBR, x_r, m_from, term[x_r], 0, 0, m_age)
    fi
}

/* election_on_heartbeat_resp: the lease runs to base + LEASE. */
inline on_heartbeat_resp() {
    if
    :: m_term > term[x_r] -> become_follower(x_r, m_term, 0)
    :: else ->
        if
        :: role[x_r] == LEADER && m_term == term[x_r] && m_granted ->
            if :: m_age < acked[x_r * N + m_from] -> acked[x_r * N + m_from] = m_age :: else -> skip fi;
            quorum_acked(x_r);
            if :: x_base < LEASE && LEASE - x_base > lease[x_r] -> lease[x_r] = LEASE - x_base :: else -> skip fi
        :: else -> skip
        fi
    fi
}

/* election_on_timeout_now: campaign(e, false, true); no campaign beyond
 * MAXTERM (the model's bound). */
inline on_timeout_now() {
    if
    :: m_term == term[x_r] && leader[x_r] == m_from + 1 && term[x_r] < MAXTERM -> start_vote(x_r, 1)
    :: else -> skip
    fi
}

/* election_receive; keep = 1 delivers a copy and leaves the message in the
 * network (duplication). dst: the voter it is delivered to, 3 for its
 * addressee; only the negative variant NO_ADDRESS_CHECK delivers elsewhere. */
inline deliver_to(k, keep, dst) {
    x_msg = net[k];
    if :: dst == 3 -> x_r = (x_msg >> 8) & 3 :: else -> x_r = dst fi;
    if :: !keep -> net[k] = 0; sort_net() :: else -> skip fi;
    m_kind = (x_msg >> 12) & 7;
    m_from = (x_msg >> 10) & 3;
    m_term = (x_msg >> 5) & 7;
    m_granted = (x_msg >> 4) & 1;
    m_transfer = (x_msg >> 3) & 1;
    m_age = x_msg & 7;
    if
    :: m_kind == PV -> on_pre_vote()
    :: m_kind == PVR -> on_pre_vote_resp()
    :: m_kind == V -> on_vote()
    :: m_kind == VR -> on_vote_resp()
    :: m_kind == HB -> on_heartbeat()
    :: m_kind == HBR -> on_heartbeat_resp()
    :: else -> on_timeout_now()
    fi
}

#define deliver(k, keep) deliver_to(k, keep, 3)

#define NODE(i) \
    :: d_step { role[i] != LEADER && timer[i] >= T && term[i] < MAXTERM -> campaign(i); inv() } \
    :: d_step { role[i] == LEADER -> heartbeat(i); inv() } \
    :: d_step { role[i] == LEADER && lead_age[i] >= T -> check_quorum(i); inv() } \
    :: d_step { role[i] == LEADER && lease[i] > 0 -> command(i) } \
    :: d_step { true -> restart(i); inv() }

#define TRANSFER(i, j) \
    :: d_step { role[i] == LEADER -> transfer(i, j); inv() }

#ifdef NO_ADDRESS_CHECK
/* A copy delivered to a voter other than the addressee and the sender,
 * who takes it as its own. */
#define MISDELIVER(k) \
    :: d_step { net[k] != 0 -> deliver_to(k, 1, 3 - ((net[k] >> 8) & 3) - ((net[k] >> 10) & 3)); inv() }
#else
#define MISDELIVER(k)
#endif

#define MSG(k) \
    :: d_step { net[k] != 0 -> deliver(k, 0); inv() } \
    :: d_step { net[k] != 0 -> deliver(k, 1); inv() } \
    :: d_step { net[k] != 0 -> net[k] = 0; sort_net(); skip } \
    MISDELIVER(k)

active proctype world() {
    d_step {
        /* election_new with hs = {0, 0} at time 0: sticky, timer just reset */
        x_n = 0;
        do
        :: x_n < N -> acked[x_n * N + 0] = T; acked[x_n * N + 1] = T; acked[x_n * N + 2] = T; x_n++
        :: else -> break
        od
    };
    do
    :: d_step { true -> clock(); inv() }
    NODE(0)
    NODE(1)
    NODE(2)
    TRANSFER(0, 1)
    TRANSFER(0, 2)
    TRANSFER(1, 0)
    TRANSFER(1, 2)
    TRANSFER(2, 0)
    TRANSFER(2, 1)
    MSG(0)
    MSG(1)
#if NMSG > 2
    MSG(2)
#endif
#if NMSG > 3
    MSG(3)
#endif
#if NMSG > 4
    MSG(4)
#endif
#if NMSG > 5
    MSG(5)
#endif
    od
}
