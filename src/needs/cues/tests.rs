//! The cue rules on sentences a person says: each case is one sentence and what it does.

use super::*;

#[test]
fn act_cases() {
    let check = |sentence: &str, expected: Act| {
        assert_eq!(act(sentence), expected, "{sentence:?}");
    };
    let correction = |wrong: &str, right: &str| Act::Correction {
        wrong: wrong.to_string(),
        right: right.to_string(),
    };
    check("Look at this sketch.", Act::Filler);
    check("Hmm, okay.", Act::Filler);
    check("Let me think.", Act::Filler);
    check("Okay, here it is.", Act::Filler);
    check("How we'd measure it?", Act::Question);
    check("I've drawn what I'm imagining.", Act::Remark);
    check("Let me think where to start.", Act::Remark);
    check("Where do I even begin?", Act::Remark);
    check(
        "So here's the rough drawing I made last night.",
        Act::Remark,
    );
    check("Here's a quick sketch of the parent app.", Act::Remark);
    check("The second thing is pickup.", Act::Remark);
    check("I have two problems.", Act::Remark);
    check("There are a couple of issues with the rota.", Act::Remark);
    check(
        "I drew the screen where farmers log their harvest.",
        Act::Content,
    );
    check("I made a spreadsheet to track who paid.", Act::Content);
    check(
        "The second thing is that drivers lose the paperwork.",
        Act::Content,
    );
    check("Here's what hurts: the van is too small.", Act::Content);
    check("", Act::Filler);
    check("I honestly don't know yet.", Act::NonAnswer);
    check("No idea, I'd have to ask them.", Act::NonAnswer);
    check("I'm not sure.", Act::NonAnswer);
    check("I really haven't got a clue yet", Act::NonAnswer);
    check("Gosh, I couldn't give you a number", Act::NonAnswer);
    check("Honestly, who knows.", Act::NonAnswer);
    check(
        "As for how it gets patched up now, I honestly couldn't tell you, that happens in the office and I'm never in there.",
        Act::NonAnswer,
    );
    check(
        "I'm not sure why, but the drivers lose the paperwork every single week.",
        Act::Content,
    );
    check("They can't give you a straight price.", Act::Content);
    check(
        "I honestly don't know yet how they deal with it today.",
        Act::NonAnswer,
    );
    check(
        "They don't know when the next delivery arrives.",
        Act::Content,
    );
    check(
        "No, sorry, it's for teachers, not parents.",
        correction("parents", "teachers"),
    );
    check(
        "Actually it's not for parents but for teachers.",
        correction("parents", "teachers"),
    );
    check(
        "Landlords, not tenants.",
        correction("tenants", "Landlords"),
    );
    check(
        "I meant small shops, not supermarkets.",
        correction("supermarkets", "small shops"),
    );
    check(
        "Sorry, not the owners, I mean the cooks on the late shift.",
        correction("the owners", "the cooks on the late shift"),
    );
    check(
        "No, sorry, I mean the cleaners, they do the rounds.",
        correction("", "the cleaners"),
    );
    check(
        "No wait, let me take that back, it's the dispatchers at the school bus company.",
        correction("", "dispatchers at the school bus company"),
    );
    check(
        "Scratch that, it's the night nurses.",
        correction("", "night nurses"),
    );
    check(
        "No wait, that's wrong, it's really the piano tuners who visit their studios.",
        correction("", "piano tuners who visit their studios"),
    );
    check(
        "That's wrong half the time, the labels fall off.",
        Act::Content,
    );
    // A take-back with no people after it takes nothing back here.
    check("Let me take that back, it happens daily.", Act::Content);
    // "I mean" with no people after it takes nothing back.
    check("No, I mean it happens a lot.", Act::Content);
    check("Patients do not show up.", Act::Content);
    check("I'm not sure, but probably every week.", Act::Content);
    check("They can't pay on time, not even in cash.", Act::Content);
    check(
        "It shows a dashboard for freelance translators.",
        Act::Content,
    );
}

#[test]
fn need_cases() {
    // (sentence, problem, wish, actor)
    let check = |sentence: &str, problem: bool, wish: bool, actor: Option<&str>| {
        assert_eq!(is_problem(sentence), problem, "problem: {sentence:?}");
        assert_eq!(is_wish(sentence), wish, "wish: {sentence:?}");
        assert_eq!(actor_phrase(sentence).as_deref(), actor, "{sentence:?}");
    };
    check(
        "It shows a dashboard for freelance translators.",
        false,
        false,
        Some("freelance translators"),
    );
    check(
        "I want to build something for small dental clinics.",
        false,
        false,
        Some("small dental clinics"),
    );
    check(
        "Independent personal trainers lose clients when sessions get cancelled.",
        true,
        false,
        Some("Independent personal trainers"),
    );
    // A plural agent noun names people; one that names things does not.
    check(
        "Piano tuners drive from house to house.",
        false,
        false,
        Some("Piano tuners"),
    );
    check("Orders pile up every Monday.", false, false, None);
    // A singular people noun after "we're" describes the plural that follows.
    check(
        "We're volunteer tour guides at a city history museum.",
        false,
        false,
        Some("volunteer tour guides"),
    );
    check(
        "I'm one of those independent yoga teachers who rents a church hall.",
        false,
        false,
        Some("independent yoga teachers who rents a church hall"),
    );
    // "… like me": the speaker is one of them, wherever they stand.
    check(
        "There are two things that bother ski instructors like me.",
        false,
        false,
        Some("ski instructors"),
    );
    check(
        "Corner shop owners count their stock by hand.",
        false,
        false,
        Some("Corner shop owners"),
    );
    check(
        "They would love to sell the leftovers cheaply.",
        false,
        true,
        None,
    );
    check("Look at this sketch.", false, false, None);
    check(
        "By the way, I had a great coffee this morning.",
        false,
        false,
        None,
    );
    check(
        "They juggle deadlines from ten different clients by email.",
        true,
        false,
        None,
    );
    check(
        "Today the receptionist phones every patient the day before.",
        false,
        false,
        Some("receptionist"),
    );
    // A place after the people belongs to who they are; a time does not.
    check(
        "It's a board for bike mechanics in small repair shops.",
        false,
        false,
        Some("bike mechanics in small repair shops"),
    );
    check(
        "Every Saturday the volunteers at our town library end up with a pile of books.",
        false,
        false,
        Some("volunteers at our town library"),
    );
    check(
        "Ward nurses at night lose track of the keys.",
        true,
        false,
        Some("Ward nurses"),
    );
    // Something that goes wrong over and over is a problem; a habit or a thought is not.
    check(
        "Clients keep asking for one more small change.",
        true,
        false,
        Some("Clients"),
    );
    check("We keep using the old paper forms.", false, false, None);
    check(
        "I keep thinking about older people who live alone.",
        false,
        false,
        Some("older people who live alone"),
    );
    // A count of problems announces them; it names none.
    check(
        "I have two separate headaches, one for my cleaners and one for me.",
        false,
        false,
        Some("cleaners"),
    );
    // The speaker's role, after "as" at a break.
    check(
        "The second headache is mine, as the owner.",
        true,
        false,
        Some("owner"),
    );
    check("We work as fast as the drivers allow.", false, false, None);
    // The people the speaker runs, manages or has, and a group with its members.
    check(
        "I run a shearing crew, four shearers and two wool handlers.",
        false,
        false,
        Some("shearing crew"),
    );
    check(
        "I manage a team of twelve carers who visit people at home.",
        false,
        false,
        Some("team of twelve carers who visit people at home"),
    );
    check(
        "We have six cleaners on the evening shift.",
        false,
        false,
        Some("cleaners"),
    );
    check(
        "I coordinate volunteers at a community kitchen.",
        false,
        false,
        Some("volunteers"),
    );
    // A business the speaker runs is whom the need is for.
    check(
        "I run a small bakery near the station.",
        false,
        false,
        Some("small bakery"),
    );
    check("We have two vans and a trailer.", false, false, None);
}

#[test]
fn frequency_cases() {
    let check = |sentence: &str, expected: Option<&str>| {
        assert_eq!(
            frequency_phrase(sentence).as_deref(),
            expected,
            "{sentence:?}"
        );
    };
    check(
        "It happens every single weekday.",
        Some("every single weekday"),
    );
    check(
        "It happens two or three times a week, and they don't get paid.",
        Some("two or three times a week"),
    );
    check(
        "Every week at least one deadline slips because a message gets buried.",
        Some("Every week"),
    );
    check(
        "They count their stock by hand every Sunday night.",
        Some("every Sunday night"),
    );
    check(
        "That's every single weekend during the school year.",
        Some("every single weekend during the school year"),
    );
    check("We meet weekly.", Some("weekly"));
    check(
        "The nurses get twenty or thirty worried calls a day asking how Bella is doing.",
        Some("twenty or thirty worried calls a day"),
    );
    check("We ship ten orders per week.", Some("ten orders per week"));
    check("Two drivers, and a van a day.", None);
    check("We lost ten customers and a year of work.", None);
    check("She calls twice a day.", Some("twice a day"));
    check(
        "It comes up a couple of times a month per flat, more in winter.",
        Some("a couple of times a month"),
    );
    check(
        "They walk the whole aisle twice because the list is unsorted.",
        None,
    );
    check(
        "That's every market day, so once or twice a week.",
        Some("every market day"),
    );
    check(
        "The receptionist phones every patient the day before.",
        None,
    );
    check("They keep a notebook next to the keyboard.", None);
    check(
        "It comes up most nights in the summer.",
        Some("most nights"),
    );
    check(
        "I'd say four days out of five.",
        Some("four days out of five"),
    );
    check("Most of them forget.", None);
    check(
        "It happens about three nights a week, mostly on the weekend.",
        Some("about three nights a week"),
    );
    check(
        "That's maybe once a fortnight, more in June.",
        Some("once a fortnight"),
    );
    check("They plan the weekly rota together.", None);
    // A bare count says how often only of something that happens.
    check("They end up visiting the same pothole three times.", None);
    check("It has happened three times already.", Some("three times"));
}

#[test]
fn slot_cases() {
    let check = |clause: &str, expected: &[Slot]| {
        assert_eq!(slots_heard(clause), expected, "{clause:?}");
    };
    check(
        "I would measure success by the number of missed deadlines per month going to zero",
        &[Slot::Pain, Slot::SuccessMetric],
    );
    check(
        "They currently keep a notebook next to the keyboard",
        &[Slot::Workaround],
    );
    check(
        "What actually kills me is photos that print out blurry",
        &[Slot::Pain],
    );
    check(
        "They would love to sell the leftovers cheaply before closing time",
        &[Slot::DesiredOutcome],
    );
    check(
        "I want to build something for small dental clinics",
        &[Slot::Actor],
    );
    check("It happens every single weekday", &[Slot::Frequency]);
    check(
        "Every week at least one deadline slips",
        &[Slot::Pain, Slot::Frequency],
    );
    check(
        "What would fix it is a text when the van is ready",
        &[Slot::DesiredOutcome],
    );
    check(
        "It'd be good if parents could see the timetable right now",
        &[Slot::DesiredOutcome],
    );
    check(
        "If we lost no more than one order a month, I'd be thrilled",
        &[Slot::Pain, Slot::SuccessMetric],
    );
    check(
        "The people stuck with it are the night cooks",
        &[Slot::Actor, Slot::Pain],
    );
    check(
        "Good would be zero bikes handed to the wrong person",
        &[Slot::Pain, Slot::SuccessMetric],
    );
    check(
        "I'd count it as working if missed bookings drop to one a month or less",
        &[Slot::Pain, Slot::SuccessMetric],
    );
    check(
        "I would call it fixed if nobody gets woken by a knock for a whole month",
        &[Slot::Pain, Slot::SuccessMetric],
    );
    check(
        "I would say it worked if site visits dropped to almost none",
        &[Slot::SuccessMetric],
    );
    // A goal is the outcome wanted; success is how it is measured.
    check(
        "The goal is that an illustrator can see how many revision rounds a client has used",
        &[Slot::DesiredOutcome],
    );
    check(
        "This is for road inspectors at a small town council",
        &[Slot::Actor],
    );
    check(
        "What drives me up the wall is that a hiker tells us about a fallen tree",
        &[Slot::Pain],
    );
    check(
        "The headache is that the licensing people want a full list of tracks",
        &[Slot::Pain],
    );
    check(
        "That lands on my game masters, mostly students working part time",
        &[Slot::Actor],
    );
    check(
        "What I'm after is for each shearer to press a button on the pen gate",
        &[Slot::DesiredOutcome],
    );
    check(
        "The idea is that whoever opens the hatch sees every note left on that turbine",
        &[Slot::DesiredOutcome],
    );
    check(
        "I'd be happy if the quarterly list went out complete",
        &[Slot::SuccessMetric],
    );
    check(
        "Fewer complaints about bad ice at the front desk would tell me it works",
        &[Slot::SuccessMetric],
    );
    // "That's" before a frequency says how often the thing before happens.
    check(
        "During tech week that's pretty much every day",
        &[Slot::Frequency],
    );
    // What the speaker ends up doing is how they cope; doing it twice is the waste.
    let workaround = |clause: &str| slot_evidence(clause)[Slot::Workaround as usize];
    assert_eq!(
        workaround("I end up ringing round the farmers one by one"),
        CLEAR
    );
    assert!(workaround("We end up writing the catch log twice") < CLEAR);
    // "I run a small clinic" says who the person is, not how anyone copes.
    check("I run a small bed and breakfast with six rooms", &[]);
}

#[test]
fn frequency_value_cases() {
    let check = |clause: &str, expected: &str| {
        assert_eq!(slot_value(clause, Slot::Frequency), expected, "{clause:?}");
    };
    check(
        "It happens most weeks, I'd say three weeks out of four",
        "most weeks, I'd say three weeks out of four",
    );
    check("It happens every single weekday", "every single weekday");
}

#[test]
fn copula_actor_cases() {
    let check = |sentence: &str, expected: Option<&str>| {
        assert_eq!(copula_actor(sentence).as_deref(), expected, "{sentence:?}");
    };
    check(
        "The people stuck with it are the night cooks.",
        Some("night cooks"),
    );
    check(
        "My parents are shop owners, they sell fruit.",
        Some("shop owners"),
    );
    check(
        "The ones who suffer are the volunteer coordinators, the people who plan.",
        Some("volunteer coordinators"),
    );
    check("The problem is people get lost.", None);
    check("Teachers are overwhelmed by marking.", None);
}

#[test]
fn fit_cases() {
    let check = |clause: &str, slot: Slot, expected: bool| {
        assert_eq!(fits_slot(clause, slot), expected, "{clause:?} for {slot:?}");
    };
    check(
        "I would measure success by the number of missed deadlines",
        Slot::DesiredOutcome,
        false,
    );
    check(
        "I would measure success by the number of missed deadlines",
        Slot::SuccessMetric,
        true,
    );
    check("They currently keep a notebook", Slot::Frequency, false);
    check("They currently keep a notebook", Slot::Workaround, true);
    check("Mostly the receptionist", Slot::Actor, true);
    check(
        "What I'd really like is a plan for the week that is ready in ten minutes",
        Slot::Workaround,
        false,
    );
    check(
        "For the cancellations, success would be fewer than one lost session a month",
        Slot::Pain,
        false,
    );
    check("It is really annoying", Slot::Pain, true);
    check("Every Monday morning", Slot::Frequency, true);
    check("Every Monday morning", Slot::Pain, false);
    check("Pretty much all the time", Slot::Frequency, true);
    check(
        "It happens every evening, especially on rainy days",
        Slot::Workaround,
        false,
    );
}

#[test]
fn clause_and_value_cases() {
    assert_eq!(
        clauses(
            "It happens two or three times a week, and they don't get paid for the empty slot."
        ),
        vec![
            "It happens two or three times a week",
            "and they don't get paid for the empty slot"
        ]
    );
    assert_eq!(
        clauses("What they need is a list that follows the route, so they never double back."),
        vec!["What they need is a list that follows the route, so they never double back"]
    );
    assert_eq!(
        clauses("They have no idea what happened, so they call the colleague at home."),
        vec![
            "They have no idea what happened",
            "so they call the colleague at home"
        ]
    );
    assert_eq!(
        clauses("The owners hate it, because the waste eats their margin."),
        vec!["The owners hate it, because the waste eats their margin"]
    );
    assert_eq!(
        clauses("I thought at first this would be for brides, but no, actually it's for us."),
        vec!["but no, actually it's for us"]
    );
    assert_eq!(
        clauses("The sheet is on the door, but no one reads it."),
        vec!["The sheet is on the door", "but no one reads it"]
    );
    assert_eq!(
        clause_value("Well, um, they keep a notebook."),
        "they keep a notebook"
    );
    assert_eq!(
        clause_value("and they don't get paid"),
        "they don't get paid"
    );
    let check_value = |clause: &str, slot: Slot, expected: &str| {
        assert_eq!(slot_value(clause, slot), expected, "{clause:?}");
    };
    check_value(
        "I would measure success by the number of missed deadlines per month going to zero",
        Slot::SuccessMetric,
        "the number of missed deadlines per month going to zero",
    );
    check_value(
        "Success means the no-show rate drops below five percent",
        Slot::SuccessMetric,
        "the no-show rate drops below five percent",
    );
    check_value(
        "I'd call it a success if the count took less than thirty minutes",
        Slot::SuccessMetric,
        "the count took less than thirty minutes",
    );
    check_value(
        "Fewer complaints about bad ice at the front desk, say under five a month, would tell me it works",
        Slot::SuccessMetric,
        "Fewer complaints about bad ice at the front desk, say under five a month",
    );
    check_value(
        "If we get through a whole wedding season without unpicking a seam, I'd say it works",
        Slot::SuccessMetric,
        "we get through a whole wedding season without unpicking a seam",
    );
    check_value(
        "If nobody argues about pay for a whole season, I'd call that a success",
        Slot::SuccessMetric,
        "nobody argues about pay for a whole season",
    );
    check_value("Success", Slot::SuccessMetric, "Success");
    check_value(
        "I'm talking about the plot holders, mostly retired folks",
        Slot::Actor,
        "the plot holders, mostly retired folks",
    );
    check_value(
        "The problem is repair requests",
        Slot::Pain,
        "repair requests",
    );
    check_value(
        "The worst part is that they still run out of the popular items",
        Slot::Pain,
        "they still run out of the popular items",
    );
    check_value(
        "What drives me up the wall is that a hiker tells us too late",
        Slot::Pain,
        "a hiker tells us too late",
    );
    check_value(
        "That lands on my game masters",
        Slot::Actor,
        "my game masters",
    );
    check_value(
        "It happens every single weekday",
        Slot::Frequency,
        "every single weekday",
    );
    assert_eq!(
        sentences("Look at this sketch. It costs 3.5 hours! Really?"),
        vec!["Look at this sketch.", "It costs 3.5 hours!", "Really?"]
    );
}
