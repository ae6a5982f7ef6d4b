# ruff: noqa: E501  (message texts read better whole)
"""English conversations. One line per message that matters: `TAG who: text ## keywords`.

TAG: `-` context, `D` decision, `Q` open question, `A` action item owned by the speaker,
`A>who` action item owned by someone else. Keywords (`;`-separated) are what a summary that
does not cite the message must still say. `F n: question ## answer keywords` asks about line n.
"""

from __future__ import annotations

SEEDS: list[dict[str, object]] = [
    {
        "id": "en-incident-payments",
        "domain": "incident",
        "title": "Payments API errors after a deploy",
        "size": 10,
        "people": {"ana": "Ana Ruiz", "ben": "Ben Okafor", "cai": "Cai Wen"},
        "script": """
- ana: Payments API error rate is at 12% since the 14:05 deploy.
D ana: Decision: we roll back to v2.3.1 now and freeze deploys until Monday. ## roll back; v2.3.1
Q ben: Do we know whether the card-token service is involved too? ## card-token
A ben: I'll post the status page update by 15:00. ## status page
A>cai ana: Cai, can you open the postmortem doc today? ## postmortem
F 1: Which version did the team roll back to? ## v2.3.1
""",
    },
    {
        "id": "en-incident-db-failover",
        "domain": "incident",
        "title": "Primary database failover",
        "size": 40,
        "people": {"dev": "Devi Shah", "eli": "Eli Brandt", "fay": "Fay Moreau"},
        "script": """
- dev: Primary Postgres in eu-west is unreachable, replicas are lagging 40 seconds.
Q eli: Should we fail over now or wait for the provider's answer? ## fail over
D dev: We agreed to promote replica db-3 as the new primary. ## promote; db-3
- fay: Writes are back, latency is normal again.
A eli: I'll rebuild db-1 as a replica tonight. ## rebuild; db-1
A>fay dev: Fay, please file the provider ticket with the timeline. ## provider ticket
Q fay: Do we need to tell customers about the 6 minutes of failed writes? ## failed writes
F 2: Which replica became the new primary? ## db-3
""",
    },
    {
        "id": "en-incident-login-outage",
        "domain": "incident",
        "title": "SSO login outage",
        "size": 300,
        "people": {"gus": "Gus Ferreira", "hana": "Hana Kim", "ivo": "Ivo Novak"},
        "script": """
- gus: SSO logins fail with a SAML signature error for every tenant since 09:12.
- hana: The identity provider rotated its signing certificate this morning.
D gus: Decision: we pin the new certificate fingerprint and ship a hotfix today. ## certificate; hotfix
A hana: I'll write the customer notice for the status page. ## customer notice
Q ivo: Why did the certificate monitor not alert us before the rotation? ## certificate monitor
A>ivo gus: Ivo, can you add an alert for certificate rotation by Friday? ## alert
F 2: What did they decide to do about the SSO outage? ## certificate
""",
    },
    {
        "id": "en-launch-mobile",
        "domain": "launch",
        "title": "Mobile app 4.0 launch",
        "size": 24,
        "people": {"jo": "Jo Adams", "kit": "Kit Larsen", "lia": "Lia Marino"},
        "script": """
- jo: Release candidate 4.0-rc2 passed QA except for the offline sync bug.
D jo: We decided to launch 4.0 on Tuesday with offline sync behind a flag. ## Tuesday; offline sync
Q kit: Is the App Store review going to be done in time for Tuesday? ## App Store review
A lia: I'll prepare the launch blog post and the release notes. ## blog post
A>kit jo: Kit, could you submit the build to the App Store today? ## submit
F 1: When does 4.0 launch? ## Tuesday
""",
    },
    {
        "id": "en-launch-pricing",
        "domain": "launch",
        "title": "New pricing page launch",
        "size": 150,
        "people": {"max": "Max Weber", "nia": "Nia Brooks", "oli": "Oli Grant"},
        "script": """
- max: Legal signed off the new terms for the Team plan.
D nia: Final call: the Team plan launches at $12 per seat with annual billing only. ## $12; annual
Q oli: What about existing customers on the old $10 plan? ## existing customers
D max: Agreed that existing customers keep $10 for twelve months. ## twelve months
A oli: I'll update the pricing page copy and the FAQ by Thursday. ## pricing page
A>max nia: Max, can you brief the sales team before the launch? ## brief; sales
F 1: How much does the Team plan cost per seat? ## $12
""",
    },
    {
        "id": "en-hiring-backend",
        "domain": "hiring",
        "title": "Senior backend engineer hiring loop",
        "size": 80,
        "people": {"pia": "Pia Schmidt", "quinn": "Quinn Walsh", "rachel": "Rachel Green"},
        "script": """
- pia: All four interviewers submitted feedback for the senior backend candidate.
D pia: We agreed to make an offer at the senior level. ## offer; senior
Q quinn: Should we match the competing offer's signing bonus? ## signing bonus
A rachel: I'll send the offer letter by Wednesday. ## offer letter
A>quinn pia: Quinn, please do the reference checks this week. ## reference checks
Q rachel: Is 48h turnaround realistic for the candidate's decision? ## 48h
F 1: At which level will the offer be made? ## senior
""",
    },
    {
        "id": "en-hiring-intern",
        "domain": "hiring",
        "title": "Summer internship programme",
        "size": 600,
        "people": {"sam": "Sam Ito", "tara": "Tara Nolan", "uma": "Uma Reddy"},
        "script": """
- sam: We have 240 applications for the summer internship.
D tara: Decision: we take six interns this year, two per team. ## six interns
Q uma: Do we offer remote internships or only on-site? ## remote
A sam: I'll set up the screening rubric in the hiring tool. ## screening rubric
A>uma tara: Uma, can you book the onboarding week with facilities? ## onboarding week
D uma: We agreed on a stipend of 3,000 per month. ## stipend
F 1: How many interns will be hired? ## six
""",
    },
    {
        "id": "en-vendor-cloud",
        "domain": "vendor",
        "title": "Cloud contract renewal",
        "size": 120,
        "people": {"vic": "Vic Moran", "wen": "Wen Li", "xan": "Xan Petrov"},
        "script": """
- vic: The vendor's renewal quote is 18% higher than last year.
Q wen: Can we get the committed-use discount if we sign for three years? ## committed-use discount
D vic: We agreed to counter with a two-year term at a flat price. ## two-year; flat price
A xan: I'll pull the last twelve months of usage for the negotiation. ## usage
A>wen vic: Wen, could you ask procurement for the competing quote? ## competing quote
F 2: What term will they counter with? ## two-year
""",
    },
    {
        "id": "en-vendor-security-review",
        "domain": "vendor",
        "title": "Security review of an analytics vendor",
        "size": 1200,
        "people": {"yara": "Yara Haddad", "zed": "Zed Ortiz", "ana": "Ana Ruiz"},
        "script": """
- yara: The analytics vendor sent their SOC 2 report and the pen test summary.
Q zed: Does their data retention meet our 30-day requirement? ## 30-day
D yara: Decision: we approve the vendor for non-personal data only. ## non-personal data
A ana: I'll add the data processing addendum to the contract. ## data processing addendum
A>zed yara: Zed, can you schedule the annual re-review in the tracker? ## re-review
F 2: For what data is the vendor approved? ## non-personal
""",
    },
    {
        "id": "en-support-escalation-bank",
        "domain": "support",
        "title": "Enterprise customer escalation: export failures",
        "size": 60,
        "people": {"ben": "Ben Okafor", "cai": "Cai Wen", "dev": "Devi Shah"},
        "script": """
- ben: Northwind Bank's nightly CSV export has failed three nights in a row.
- cai: The export job times out on their 9 million row table.
D dev: We decided to move their export to the streaming exporter this week. ## streaming exporter
A ben: I'll call their admin today and explain the workaround. ## call; workaround
Q cai: Do we owe them a service credit under the SLA? ## service credit
A>cai dev: Cai, please run a manual export for them tonight. ## manual export
F 2: Which exporter will they move the customer to? ## streaming
""",
    },
    {
        "id": "en-support-refunds",
        "domain": "support",
        "title": "Refund policy exceptions",
        "size": 2000,
        "people": {"eli": "Eli Brandt", "fay": "Fay Moreau", "gus": "Gus Ferreira"},
        "script": """
- eli: Support has 35 refund requests from the double-charge bug last week.
D fay: We agreed to refund every double charge automatically, no ticket needed. ## refund; automatically
Q gus: What about customers who already got a partial credit? ## partial credit
A eli: I'll write the macro for the support team. ## macro
A>gus fay: Gus, can you run the refund script for the 35 accounts by Friday? ## refund script
D gus: Final decision: partial credits are topped up to the full amount. ## topped up
F 1: How will double charges be refunded? ## automatically
""",
    },
    {
        "id": "en-launch-api-deprecation",
        "domain": "launch",
        "title": "Deprecating API v1",
        "size": 450,
        "people": {"hana": "Hana Kim", "ivo": "Ivo Novak", "jo": "Jo Adams"},
        "script": """
- hana: 14% of API traffic still uses v1.
D ivo: We decided to switch off API v1 on March 31. ## March 31
Q jo: Do the three biggest v1 customers know about the date? ## biggest v1 customers
A hana: I'll email every v1 customer the migration guide. ## migration guide
A>jo ivo: Jo, could you add deprecation headers to v1 responses next sprint? ## deprecation headers
F 1: When will API v1 be switched off? ## March 31
""",
    },
]
