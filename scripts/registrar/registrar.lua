-- A registrar with digest authentication, the routing of kamailio.cfg in
-- Lua, written as Kamailio's KEMI scripts are.

local function registrar()
	if KSR.auth_db.auth_check(KSR.pv.get("$fd"), "subscriber", 1) < 0 then
		KSR.auth.auth_challenge(KSR.pv.get("$fd"), 0)
		KSR.x.exit()
	end
	KSR.auth.consume_credentials()
	if KSR.registrar.save("location", 0) < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	if KSR.is_ACK() then
		KSR.x.exit()
	end
	if KSR.is_REGISTER() then
		registrar()
	end
	if KSR.pv.is_null("$rU") then
		KSR.sl.sl_send_reply(484, "Address Incomplete")
		KSR.x.exit()
	end
	if KSR.registrar.lookup("location") < 0 then
		KSR.sl.sl_send_reply(404, "Not Found")
		KSR.x.exit()
	end
	KSR.forward()
end
