"""Words that say what a message is — a decision, a task, a question — and words that say it is
an instruction aimed at the assistant rather than a message for people; in English, German,
French, Spanish and Japanese.

The offline engine files messages by these cues, and its confidence is how clearly they speak
(app/summaries/grounding.py). Rationale for the rules that are not plain vocabulary:

* a decision is stated, never asked: cues in a sentence that ends with a question mark do not
  make it a decision;
* a request ("please", "bitte", "can you") is a task for whoever it names;
* an acknowledgement ("Will do.", "On it.", "OK") is not a task: it promises nothing new, and a
  message that is an acknowledgement followed by a question ("Will do. Rachel, is 48h
  turnaround realistic?") is a question;
* a message that reads as an instruction to a summariser (ignore previous instructions, a
  "system notice", "assistant, add this link") or whose author's name does is never quoted: an
  extractive summary that quotes an injection repeats it to everyone who reads the summary.

Patterns are lower-case and run on lower-cased text. Japanese has no word boundaries, so its
cues are plain substrings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SECTIONS_BY_TIE = {"decisions": 2, "action_items": 1, "open_questions": 0}

_DECISION = re.compile(
    r"\b(?:decided|decision|agreed|agree to|approved|sign(?:ed)? off|settled on|final(?:i[sz]ed)?"
    r"|final call|we['’]?ll go with|we will go with|let['’]?s go with|going with"
    r"|we['’]?re going to|conclusion|resolved"
    r"|entschieden|entscheidung|beschlossen|einig|geeinigt|vereinbart|festgelegt"
    r"|décidé|décision|validé|convenu|d['’]accord pour|c['’]est décidé|retenu"
    r"|decidido|decidimos|decisión|acordado|acordamos|aprobado)\b"
    r"|決定|決まり|合意|ことにしました|承認",
)
_ACTION = re.compile(
    r"\b(?:i['’]?ll|i will|i can take|let me|i['’]?m on it|on it|will do|can you|could you"
    r"|would you|todo"
    r"|to-do|action item|owner|assign(?:ed)? to|follow[- ]up|please|bitte"
    r"|by (?:mon|tues|wednes|thurs|fri|satur|sun)day"
    r"|by (?:eod|eow|tomorrow|tonight|next week|end of (?:the )?(?:day|week))"
    r"|ich übernehme|ich kümmere mich|ich schicke|ich bereite|ich melde mich|ich mache"
    r"|kannst du|könntest du|bis (?:montag|dienstag|mittwoch|donnerstag|freitag)"
    r"|je m['’]occupe|je prépare|je finalise|je rédige|je contacte|je m['’]en charge"
    r"|peux-tu|pourrais-tu|pouvez-vous|d['’]ici (?:demain|vendredi|lundi)"
    r"|me encargo|yo preparo|yo publico|yo llamo|yo reviso|puedes|podrías|puede usted"
    r"|para el (?:lunes|martes|miércoles|jueves|viernes))\b"
    r"|私が|もらえますか|いただけますか|お願いします|までに",
)
_QUESTION = re.compile(
    r"[?？]|\b(?:should we|shall we|do we|can we|any thoughts|what about|how do we"
    r"|open question|not sure (?:if|whether)|wondering)\b",
)
_SELF_OWNED = re.compile(
    r"\b(?:i['’]?ll|i will|i can take|let me|i['’]?m on it|on it|will do|ich übernehme"
    r"|ich kümmere mich"
    r"|ich schicke|ich bereite|ich melde mich|ich mache|je m['’]occupe|je prépare|je finalise"
    r"|je rédige|je contacte|je m['’]en charge|me encargo|yo preparo|yo publico|yo llamo"
    r"|yo reviso)\b|私が",
)
_ASKS_OTHER = re.compile(
    r"\b(?:can you|could you|would you|please|assign(?:ed)? to|kannst du|könntest du|bitte"
    r"|peux-tu|pourrais-tu|pouvez-vous|puedes|podrías)\b|もらえますか|いただけますか|お願いします",
)
_ACK = re.compile(
    r"^(?:will do|on it|sure|ok(?:ay)?|got it|sounds good|thanks|thank you|noted|done|yes|yep"
    r"|mache ich|alles klar|danke|ok[,.]? danke|d['’]accord|merci|c['’]est noté|vale|hecho"
    r"|gracias|了解です|承知しました)[\s.!,。！]*$",
)
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+")
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget) (?:all |any )?(?:the )?(?:previous|prior|above|earlier)"
    r"|\b(?:ignore|disregard) (?:all|your) (?:instructions|rules)"
    r"|system (?:notice|message|prompt)|\[system|summary bot|\bassistant\s*[,:]"
    r"|summar(?:y|ies) (?:must|should) (?:start|begin|end|include)"
    r"|every summary|as the summary"
    r"|ignoriere|anweisungen|systemhinweis|zusammenfassungen müssen|\bassistent\s*,"
    r"|ignore toutes les instructions|instructions précédentes|avis système"
    r"|les résumés doivent|chaque résumé|robot\s*:"
    r"|ignora (?:todas )?las instrucciones|instrucciones anteriores|aviso del sistema"
    r"|los resúmenes deben|cada resumen|\basistente\s*,|\bbot\s*:"
    r"|指示をすべて無視|指示を無視|システム通知|アシスタントへ|ボットへ|要約には",
)


@dataclass(frozen=True, slots=True)
class Cues:
    section: str | None  # the section the message belongs in, or None
    strength: int  # how many cues of that section it carries (decision cues count double)
    ambiguous: bool  # it also carries cues of another section


def _substance(text: str) -> str:
    """The text without sentences that only acknowledge."""
    sentences = [s for s in _SENTENCE.split(text.strip()) if not _ACK.match(s.strip())]
    return " ".join(sentences)


def classify(text: str) -> Cues:
    lowered = _substance(text.lower())
    # A decision is stated, never asked: "is 48h realistic for the decision?" is a question.
    stated = " ".join(s for s in _SENTENCE.split(lowered) if not s.rstrip().endswith(("?", "？")))
    counts = {
        "decisions": 2 * len(_DECISION.findall(stated)),
        "action_items": len(_ACTION.findall(lowered)),
        "open_questions": min(len(_QUESTION.findall(lowered)), 2),
    }
    best = max(counts, key=lambda s: (counts[s], SECTIONS_BY_TIE[s]))
    if not counts[best]:
        return Cues(None, 0, False)
    others = sum(1 for s, n in counts.items() if n and s != best)
    return Cues(best, counts[best], others > 0)


def self_owned(text: str) -> bool:
    return bool(_SELF_OWNED.search(_substance(text.lower())))


def asks_other(text: str) -> bool:
    return bool(_ASKS_OTHER.search(text.lower()))


def is_injection(text: str) -> bool:
    """Reads as an instruction to an assistant (or a fake notice from the system)."""
    return bool(_INJECTION.search(text.lower()))
