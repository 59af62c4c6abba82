-- A small KEMI routing script for kemi (and Kamailio's app_lua):
-- answers OPTIONS keepalives, stops loops, rejects scanners, and turns the
-- rest away until a registrar/forwarding module is loaded.
-- Config:  loadmodule "app_lua.so"
--          modparam("app_lua", "load", "scripts/lua/proxy-options.lua")
--          cfgengine "lua"

function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	KSR.sanity.sanity_check(1511, 7)   -- answers and stops on a bad request

	local ua = KSR.kx.gete_ua()
	if string.find(ua, "friendly-scanner", 1, true) or string.find(ua, "sipvicious", 1, true) then
		KSR.x.drop()                   -- no answer for scanners
	end

	if KSR.is_OPTIONS() and KSR.is_myself_ruri() then
		KSR.xlog.xinfo("keepalive from $si:$sp\n")
		KSR.hdr.append_to_reply("Allow: OPTIONS\r\n")
		KSR.sl.sl_send_reply(200, "OK")
		KSR.x.exit()
	end
	if KSR.is_ACK() then
		KSR.x.exit()
	end
	KSR.sl.sl_send_reply(404, "Not Found")
end
