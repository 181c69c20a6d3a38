"""The organizations, phrases and date words ``bench.ai_eval`` generates its data from.

Data only, kept apart from the generator and the evaluation so both stay
readable: three organizations of different trades, each with clients,
projects (their usual descriptions and tag) and generic phrases.
"""

from __future__ import annotations

from typing import Any

ORGS: dict[str, dict[str, Any]] = {
    "pixel": {
        "timezone": "Europe/Berlin",
        "projects": {
            "Website redesign": {
                "Login page": (
                    [
                        "fix login redirect",
                        "login form validation",
                        "password reset flow",
                        "sso button styling",
                    ],
                    "bug",
                ),
                "Checkout flow": (
                    ["checkout address form", "payment step errors", "cart summary layout"],
                    "frontend",
                ),
                "Homepage": (
                    ["hero banner", "homepage copy changes", "landing page animations"],
                    None,
                ),
            },
            "Mobile app": {
                "Push notifications": (
                    [
                        "push notification certificates",
                        "android push channel",
                        "notification settings screen",
                    ],
                    "mobile",
                ),
                "Offline sync": (
                    ["offline sync conflicts", "local database migration", "sync queue retries"],
                    "mobile",
                ),
                "App store release": (
                    ["release notes", "testflight build", "store screenshots"],
                    "release",
                ),
            },
            "API platform": {
                "Rate limiting": (
                    ["rate limiter redis", "throttling headers", "quota per api key"],
                    "backend",
                ),
                "OAuth": (
                    ["oauth token refresh", "client credentials grant", "scopes consent screen"],
                    "backend",
                ),
                "Docs portal": (
                    ["api reference docs", "openapi examples", "sdk quickstart guide"],
                    "docs",
                ),
            },
            "Data warehouse": {
                "ETL pipelines": (
                    ["etl job orders table", "airflow dag fixes", "incremental loads"],
                    "data",
                ),
                "Dashboards": (["revenue dashboard", "churn chart", "metabase questions"], "data"),
            },
            "Internal": {
                "Hiring": (
                    ["interview candidate", "review take-home assignment", "hiring debrief"],
                    None,
                ),
                "Team rituals": (
                    ["sprint retro", "sprint planning", "backlog grooming"],
                    "meeting",
                ),
            },
        },
        "generic": ["emails", "standup", "planning call", "code review", "misc", "slack catch-up"],
    },
    "lexis": {
        "timezone": "America/New_York",
        "projects": {
            "Meyer v. Schulz": {
                "Discovery": (
                    ["document review batch", "privilege log", "deposition prep"],
                    "litigation",
                ),
                "Court hearing": (
                    ["hearing preparation", "oral argument outline", "attend motion hearing"],
                    "court",
                ),
                "Settlement talks": (
                    ["settlement memo", "mediation session", "draft settlement terms"],
                    None,
                ),
            },
            "Acme merger": {
                "Due diligence": (
                    ["review target contracts", "ip diligence", "data room review"],
                    "m&a",
                ),
                "Contract drafting": (
                    [
                        "draft share purchase agreement",
                        "revise disclosure schedules",
                        "markup seller comments",
                    ],
                    "drafting",
                ),
                "Closing": (["closing checklist", "signature pages", "funds flow memo"], None),
            },
            "Employment policies": {
                "Handbook": (
                    ["update employee handbook", "remote work policy", "leave policy revisions"],
                    "employment",
                ),
                "Trainings": (["harassment training deck", "manager training session"], None),
            },
            "Pro bono clinic": {
                "Tenant rights": (
                    ["tenant intake interviews", "eviction defense research"],
                    "pro-bono",
                ),
            },
            "Internal": {
                "Knowledge management": (["precedent bank cleanup", "research memo filing"], None),
                "Billing review": (["prebill review", "time entry cleanup"], "admin"),
            },
        },
        "generic": ["client call", "emails", "internal meeting", "research", "file review"],
    },
    "bloom": {
        "timezone": "Europe/London",
        "projects": {
            "Spring campaign": {
                "Social media": (
                    ["instagram content calendar", "tiktok scripts", "community replies"],
                    "social",
                ),
                "Ad creatives": (
                    ["banner ad variations", "video ad storyboard", "a/b test creatives"],
                    "creative",
                ),
                "Influencer outreach": (
                    [
                        "influencer shortlist",
                        "outreach emails to creators",
                        "contract with creators",
                    ],
                    None,
                ),
            },
            "SEO retainer": {
                "Keyword research": (
                    ["keyword clustering", "search intent analysis", "competitor keyword gap"],
                    "seo",
                ),
                "Technical audit": (
                    ["crawl errors audit", "core web vitals", "sitemap and robots fixes"],
                    "seo",
                ),
                "Backlinks": (["link building outreach", "guest post pitches"], "seo"),
            },
            "Brand refresh": {
                "Logo": (["logo sketches", "logo presentation", "wordmark refinements"], "design"),
                "Style guide": (
                    ["color palette", "typography scale", "brand voice guidelines"],
                    "design",
                ),
            },
            "Website": {
                "Landing pages": (
                    ["landing page wireframes", "conversion copywriting", "webflow build"],
                    None,
                ),
            },
            "Newsletter": {
                "Monthly issue": (
                    ["newsletter draft", "subscriber segmentation", "mailchimp template"],
                    "email",
                ),
            },
        },
        "generic": ["client check-in", "emails", "brainstorm", "weekly status report", "admin"],
    },
    "terra": {
        "timezone": "Australia/Sydney",
        "projects": {
            "Riverside housing": {
                "Site visits": (
                    ["site visit riverside", "inspect foundations", "walkthrough with builder"],
                    "site",
                ),
                "Floor plans": (
                    ["floor plan revisions", "unit layouts", "stair core redesign"],
                    "drawings",
                ),
                "Permits": (
                    [
                        "council permit application",
                        "planning objection response",
                        "fire engineering report",
                    ],
                    "permits",
                ),
            },
            "School extension": {
                "Concept design": (
                    ["classroom wing massing", "concept sketches school", "playground layout"],
                    "design",
                ),
                "Consultation": (["parents consultation session", "teacher workshop"], None),
            },
            "Office fit-out": {
                "Interior design": (
                    ["joinery details", "lighting plan", "furniture schedule"],
                    "interiors",
                ),
                "Tender": (
                    ["tender documents", "contractor clarifications", "tender evaluation"],
                    None,
                ),
            },
            "Website": {
                "Portfolio": (["portfolio photos", "project case study text"], None),
            },
            "Internal": {
                "CPD": (["cpd seminar", "revit training"], "training"),
            },
        },
        "generic": ["emails", "team meeting", "drawing coordination", "phone calls", "admin"],
    },
}
PREFIXES = ["", "", "", "continue ", "more ", "wip ", "finish ", "follow-up: ", "fix "]
SUFFIXES = ["", "", "", " (part 2)", " cont.", " again", " - round 2", " with team"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
