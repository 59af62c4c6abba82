# A REGISTER request route of 24 KSR calls, in the shape of Kamailio's
# reference KEMI script, stopping where the registrar would take over:
# register.lua in Python.
import KSR as KSR


def mod_init():
    return kamailio()


class kamailio:
    def __init__(self):
        pass

    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        if KSR.maxfwd.process_maxfwd(10) < 0:
            KSR.sl.sl_send_reply(483, "Too Many Hops")
            KSR.x.exit()
        if KSR.sanity.sanity_check(1511, 7) < 0:
            KSR.x.exit()
        if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.corex.has_ruri_user() < 0:
            KSR.sl.sl_send_reply(200, "Keepalive")
            KSR.x.exit()
        if KSR.is_CANCEL():
            KSR.x.exit()
        if KSR.siputils.has_totag() > 0:
            KSR.x.exit()
        KSR.hdr.remove("Route")
        if KSR.is_method_in("IS"):
            KSR.setflag(1)
        if not KSR.is_myself_furi():
            KSR.x.exit()
        if KSR.is_myself_srcip():
            KSR.setflag(3)
        ua = KSR.kx.gete_ua()
        if "friendly" in ua:
            KSR.x.exit()
        if KSR.is_REGISTER():
            KSR.setflag(2)
        user = KSR.kx.get_fuser()
        domain = KSR.kx.gete_fhost()
        KSR.pv.sets("$var(aor)", "sip:" + user + "@" + domain)
        if KSR.pv.is_null("$hdr(Authorization)"):
            KSR.pv.seti("$var(challenge)", 1)
        if KSR.isflagset(2) and KSR.hdr.is_present("Contact") > 0:
            KSR.pv.seti("$var(save)", 1)
        if KSR.corex.has_user_agent() > 0 and KSR.isbflagset(1):
            KSR.x.exit()
        KSR.x.exit()

    # the trivial-call benchmark: 1000 KSR calls in one route, ten per
    # turn of the loop so that the loop's own cost stays small
    def bench_calls(self, msg):
        f = KSR.kemibench.int_int
        for i in range(100):
            f(7); f(7); f(7); f(7); f(7); f(7); f(7); f(7); f(7); f(7)
