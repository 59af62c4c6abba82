-- A REGISTER request route of 24 KSR calls, in the shape of Kamailio's
-- reference KEMI script, stopping where the registrar would take over.
function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	if KSR.sanity.sanity_check(1511, 7) < 0 then
		KSR.x.exit()
	end
	if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.corex.has_ruri_user() < 0 then
		KSR.sl.sl_send_reply(200, "Keepalive")
		KSR.x.exit()
	end
	if KSR.is_CANCEL() then
		KSR.x.exit()
	end
	if KSR.siputils.has_totag() > 0 then
		KSR.x.exit()
	end
	KSR.hdr.remove("Route")
	if KSR.is_method_in("IS") then
		KSR.setflag(1)
	end
	if not KSR.is_myself_furi() then
		KSR.x.exit()
	end
	if KSR.is_myself_srcip() then
		KSR.setflag(3)
	end
	local ua = KSR.kx.gete_ua()
	if string.find(ua, "friendly", 1, true) then -- plain find: a pattern search costs gopher-lua ~85 allocations
		KSR.x.exit()
	end
	if KSR.is_REGISTER() then
		KSR.setflag(2)
	end
	local user = KSR.kx.get_fuser()
	local domain = KSR.kx.gete_fhost()
	KSR.pv.sets("$var(aor)", "sip:" .. user .. "@" .. domain)
	if KSR.pv.is_null("$hdr(Authorization)") then
		KSR.pv.seti("$var(challenge)", 1)
	end
	if KSR.isflagset(2) and KSR.hdr.is_present("Contact") > 0 then
		KSR.pv.seti("$var(save)", 1)
	end
	if KSR.corex.has_user_agent() > 0 and KSR.isbflagset(1) then
		KSR.x.exit()
	end
	KSR.x.exit()
end

-- benchmark loops: n KSR calls from one Lua call
function bench_int(n)
	local f = KSR.kemibench.int_int
	for i = 1, n do f(7) end
end
function bench_str(n)
	local f = KSR.kemibench.str_int
	for i = 1, n do f("abc") end
end
function bench_plain(n)
	local f = plain_int
	for i = 1, n do f(7) end
end
function bench_exit()
	KSR.x.exit()
end
function bench_empty(n)
	for i = 1, n do end
end

-- the trivial-call benchmark: 1000 KSR calls in one route, ten per turn
-- of the loop so that the loop's own cost stays small
function bench_calls()
	local f = KSR.kemibench.int_int
	for i = 1, 100 do
		f(7) f(7) f(7) f(7) f(7) f(7) f(7) f(7) f(7) f(7)
	end
end
