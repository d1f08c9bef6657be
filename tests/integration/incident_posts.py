"""Hand-written posts for incident tests and the incident benchmark: one outage (the shop's app login
fails one evening) in 30 English and 10 German wordings by different authors, and posts about other
things that must stay out of any incident."""

from __future__ import annotations

OUTAGE_EN = [
    "@shop is the app down? can't log in since 8pm",
    "Your app keeps crashing when I try to log in, what's going on??",
    "Is anyone else unable to log into the @shop app right now?",
    "Login broken again. App just says 'something went wrong'",
    "@shop your app won't let me sign in, been trying for 30 min",
    "App down? Login page just spins forever",
    "can't sign into my account on the app, error every time. fix it pls",
    "Is there an outage? The app won't log me in",
    "Hey @shop, login isn't working on iOS or Android. Outage?",
    "The app is down for me too, can't get past the login screen",
    "Still can't log in to the app. Is this a known problem?",
    "Trying to log in and the app throws an error. Is the service down?",
    "@shop app login fails with 'server error', anyone else?",
    "Why can't I log in to your app tonight?",
    "Log in not working!!! app says try again later",
    "your login is broken, I can't access my account in the app",
    "App crashed and now it won't let me log back in",
    "I keep getting logged out of the app and can't sign back in",
    "Is the @shop app having problems? Login doesn't work",
    "Cannot access my account, the app login errors out",
    "Been locked out of the app all evening. Login just fails. What is happening?",
    "@shop login error on the app again 😡 fix your servers",
    "is the shop app broken? I enter my password and nothing happens",
    "App says 'unable to sign in, try later'. Is your system down?",
    "can't log into the app to check my order, is something wrong on your end?",
    "My app login keeps failing even after resetting my password. Outage?",
    "Hello @shop, your app won't accept my login tonight, same for my husband",
    "Is the app login down for everyone or just me?",
    "the app just shows a login error, can't get in at all",
    "Sign in on the app has been broken for an hour, please fix",
]

OUTAGE_DE = [
    "Die App ist down, ich kann mich nicht einloggen",
    "Login in der App geht seit einer Stunde nicht. Störung?",
    "@shop App Login funktioniert nicht, nur Fehlermeldung",
    "Habt ihr eine Störung? Ich komme nicht in die App rein",
    "Kann mich nicht mehr in der App anmelden, Fehler beim Login",
    "App login kaputt?? Seit heute Abend nur Fehler",
    "Ist die App gerade down? Anmelden geht nicht",
    "Einloggen in die App klappt nicht, kommt immer ein Serverfehler",
    "Bei mir geht der App-Login auch nicht, was ist da los?",
    "Login geht nicht, die App sagt später erneut versuchen",
]

UNRELATED = [
    "How long does delivery to Austria take?",
    "I want to return the shoes I ordered last week, how does that work?",
    "Do you have the blue jacket in size M again?",
    "My parcel arrived damaged, the box was crushed",
    "Can I pay with PayPal in your store?",
]
