"""Example phrasings of each intent: what the intent classifier (device.speech.intents) is trained on.

"{item}" stands for the item (the classifier sees "thing" there, as it sees a request with its item
replaced). These are the development phrasings: the benchmark (benchmarks/speech.py) speaks all but
the place names as its development set. A held-out set's misses may become examples here after
its first run (the comments say which); the set is tuned on from then, and docs/BENCHMARKS.md says
so. The unread held-out sets share no phrasing with these (tests/benchmarks/test_phrasing_sets.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from device.speech.intents import IntentKind

EXAMPLES: dict[IntentKind, tuple[str, ...]] = {
    "enroll": ("this is my {item}", "remember, these are my {item}", "these are my {item}", "hey, this is my {item}",
               "look, my {item}", "this one is my {item}", "I'd like you to know this is my {item}",
               "save these as my {item}", "this here, it's my {item}", "memorise this, my {item}",
               "say hello to my {item}", "this belongs to me, it's my {item}", "can you learn my {item}",
               "register this as my {item}", "keep track of this, it's my {item}",
               # after held-out-D's first run (its misses, as development phrasings)
               "please remember my {item}", "remember my {item}", "can you remember that this is my {item}",
               "I'd like you to remember my {item}",
               # after held-out-F's first run, with held-out-G written (the "show you" / "show me" split)
               "let me show you my {item}", "I'd like to show you my {item}", "showing you my {item}",
               # after held-out-G's first run, with held-out-H written (an item after "this"; what it looks like)
               "this {item} is mine", "this {item} belongs to me", "remember what my {item} looks like",
               # after held-out-H's first run, with held-out-I and -J written
               "keep tabs on my {item}",
               # after held-out-I's first run
               "begin tracking my {item}", "add my {item} to your memory",
               # the embedding stage's first examples (2026-11-29)
               "remember this is my {item}", "remember these are my {item}", "look, this is my {item}",
               "save this as my {item}", "learn this, it is my {item}", "this thing here is mine, my {item}",
               "meet my {item}", "I want you to remember my {item}", "note this is my {item}",
               "keep track of my {item}", "keep an eye on my {item}", "look after my {item}",
               "watch my {item} for me"),
    "locate": ("where are my {item}", "where did I put my {item}", "do you know where my {item} is",
               "any idea where my {item} went", "I misplaced my {item}", "have you seen my {item}",
               "where's my {item} gone", "where is my {item} now", "where could my {item} be",
               "I don't know where my {item} is", "find my {item}", "where did I drop my {item}",
               "can you help me find my {item}", "I'm trying to find my {item}", "seen my {item} anywhere",
               "where did I leave my {item} this morning",
               # after held-out-H's first run, with held-out-I and -J written
               "my {item} has disappeared",
               # the embedding stage's first examples (2026-11-29)
               "where is my {item}", "where did I leave my {item}", "I can't find my {item}",
               "where was my {item} last", "help me find my {item}", "I lost my {item}",
               "when did you last see my {item}", "what happened to my {item}", "locate my {item}"),
    "left_items": ("did I leave anything behind", "have I got everything with me", "did I leave anything here",
                   "have I forgotten something", "anything I'm leaving behind", "is there something I left",
                   "am I missing something", "did I leave anything lying around", "check whether I left something",
                   "do I have everything",
                   # after held-out-F's first run, with held-out-G written
                   "am I about to leave without something", "am I heading out without something",
                   # after held-out-G's first run, with held-out-H written
                   "have I forgotten to bring anything", "is there anything I need to take with me",
                   "did I leave any of my stuff around",
                   # after held-out-H's first run, with held-out-I and -J written
                   "is all my stuff with me",
                   # after held-out-I's first run
                   "have I missed anything",
                   # the embedding stage's first examples (2026-11-29)
                   "am I forgetting something", "did I forget anything", "have I left anything",
                   "is anything left behind", "am I missing anything", "did I leave something somewhere",
                   "check I have all my things", "is everything with me", "have I got all my stuff"),
    "forget": ("forget the last ten minutes", "forget my {item}", "please erase the past five minutes",
               "stop tracking my {item}", "forget the last minute", "forget the past hour",
               "delete the last thirty minutes", "forget everything about my {item}", "you can forget my {item}",
               "get rid of my {item}", "wipe my {item}", "forget the last twenty seconds",
               "clear the last ten minutes", "don't remember my {item} anymore", "stop remembering my {item}",
               "no need to remember my {item} anymore",
               # after held-out-G's first run, with held-out-H written
               "please forget where my {item} is",
               # after held-out-H's first run, with held-out-I and -J written
               "you can stop watching my {item}",
               # the embedding stage's first examples (2026-11-29)
               "delete my {item} from memory", "erase the last hour",
               "forget what you saw in the last minutes", "remove my {item}", "wipe the last five minutes",
               "don't keep my {item}"),
    "route": ("take me to my {item}", "could you point me toward my {item}", "lead the way to my {item}",
              "take me to where my {item} is", "show me how to get to my {item}", "bring me back to my {item}",
              "walk me to my {item}", "which way is my {item}", "direct me to my {item}",
              "I want to go to my {item}", "get me to my {item}", "lead me back to my {item}",
              "steer me to my {item}",
              # after held-out-F's first run, with held-out-G written
              "where should I go to find my {item}", "tell me where to go to get my {item}",
              # after held-out-G's first run, with held-out-H written
              "tell me how to find my {item}", "guide me back to where my {item} is",
              # after held-out-H's first run, with held-out-I and -J written
              "I'd like to head back to where I put my {item}", "can I get directions to my {item}",
              "navigate me to my {item}",
              # after held-out-I's first run
              "what direction is my {item}",
              # the embedding stage's first examples (2026-11-29)
              "lead me to my {item}", "guide me to my {item}", "show me the way to my {item}",
              "how do I get to my {item}", "navigate to my {item}", "point me toward my {item}",
              "go to my {item}"),
    "unknown": ("what's the weather like", "thank you for watching", "can you play some music", "what's the time",
                "good night", "turn off the radio", "play the next song", "who is that",
                "how tall is that building", "open the door", "I'm tired", "what did she say",
                "where is the nearest cafe", "where are we", "read me my messages", "what's the name of this song",
                "what's the date",
                # the embedding stage's first examples (2026-11-29)
                "what is the weather today", "play some music", "what time is it", "thank you", "hello",
                "call my mother", "turn on the lights", "tell me a joke", "okay", "yes", "no", "how are you",
                "set a timer", "the meeting is at noon", "I like this song", "let's go", "good morning",
                "what is this", "hmm", "what is the {item} like", "how is the {item} today",
                "what is the {item} going to be",
                # with the logistic head (2026-11-30): sentences about an item that ask nothing of the memory
                # (the first two from held-out-G's and -I's text misses, which are tuned on)
                "how's my {item}", "text my {item}", "call my {item}", "my {item} is so cute", "I love my {item}",
                "charge my {item}", "my {item} needs a wash", "my {item} is broken", "how old is my {item}",
                "remind me to clean my {item}", "turn off my {item}", "when is my {item} appointment",
                "send a message to my {item}", "I bought a new {item}", "order a new {item}", "what's my {item} worth",
                "tell my {item} I'm on my way", "is it going to rain", "what's the news", "how much battery is left"),
    "name_place": ("this room is the {item}", "this room is my {item}", "we are in the {item} now",
                   "call this room the {item}", "this place is called the {item}", "welcome to the {item}",
                   "you are in the {item} now", "here we are in the {item}",
                   "this part of the house is the {item}"),
}
